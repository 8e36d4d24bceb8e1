"""Every mistake a user can make: one line, exit code 2, no traceback."""

import pytest

from helpers import glue, one_line_error


def test_unknown_task_suggests_the_closest(tiny_model):
    one_line_error(glue("train", "mrcp", "--model", tiny_model), "Unknown task 'mrcp'",
                   "Did you mean 'mrpc'?", "sst2")


def test_unknown_backend_lists_known(tiny_model):
    one_line_error(glue("train", "mrpc", "--backend", "troch", "--model", tiny_model),
                   "Unknown backend 'troch'", "Did you mean 'torch'?")


def test_task_names_are_case_and_dash_insensitive(tmp_path):
    one_line_error(glue("train", "SST-2", "--data-dir", tmp_path / "nope"),
                   f"Data folder {tmp_path / 'nope'} does not exist", "GLUE_DIR")


def test_no_glue_dir(monkeypatch, tiny_model):
    monkeypatch.delenv("GLUE_DIR", raising=False)
    one_line_error(glue("train", "mrpc", "--model", tiny_model),
                   "GLUE_DIR is not set", "--data-dir")


def test_missing_file_is_named(tmp_path, tiny_model):
    (tmp_path / "MRPC").mkdir()
    one_line_error(glue("train", "mrpc", "--model", tiny_model, "--data-dir", tmp_path / "MRPC"),
                   f"Missing data file {tmp_path / 'MRPC' / 'train.tsv'}", "download")


def test_existing_output_dir(tmp_path, tiny_model, real_glue):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    one_line_error(glue("train", "mrpc", "--model", tiny_model, "--output-dir", out),
                   "already exists", "--overwrite")
    assert (out / "keep.txt").read_text() == "x"


def test_missing_model_folder_and_offline_hub(real_glue):
    one_line_error(glue("train", "mrpc", "--model", "./no/such/model"), "does not exist")
    one_line_error(glue("train", "mrpc", "--model", "bert-base-uncased"),
                   "hub is offline", "--model")


def test_bad_option_values(tiny_model):
    one_line_error(glue("train", "mrpc", "--epochs", "0"), "--epochs must be at least 1")
    one_line_error(glue("train", "mrpc", "--precision", "fp8", "--model", tiny_model),
                   "Unknown precision 'fp8'")


@pytest.mark.parametrize("command", ["train", "eval"])
def test_a_folder_without_a_model(tmp_path, command, real_glue):
    one_line_error(glue(command, "mrpc", "--model", tmp_path), f"No model in {tmp_path}")
