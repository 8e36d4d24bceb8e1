"""Damaged model folders, unusable output paths and a full disk: one line naming the file, exit 2."""

import errno
import json
import shutil

import pytest
from test_errors import one_line_error

from helpers import glue, ok

pytest.importorskip("torch")

FAST = ("--backend", "torch", "--max-train-samples", "16", "--max-eval-samples", "8", "--batch-size", "8",
        "--learning-rate", "1e-3", "--epochs", "2", "-q")


@pytest.fixture
def model_copy(tmp_path, tiny_model):
    return shutil.copytree(tiny_model, tmp_path / "model")


def damage(model, name, data):
    (model / name).write_bytes(data)


DAMAGES = {
    "truncated weights": ("model.safetensors", lambda b: b[: len(b) // 2]),
    "random weights": ("model.safetensors", lambda b: bytes(range(256)) * 8),
    "empty weights": ("model.safetensors", lambda b: b""),
    "empty config": ("config.json", lambda b: b""),
    "invalid config": ("config.json", lambda b: b"{not json"),
    "config not an object": ("config.json", lambda b: b"[1, 2]"),
    "wrong types in config": ("config.json",
                              lambda b: json.dumps({**json.loads(b), "hidden_size": "big"}).encode()),
    "bad position count": ("config.json",
                           lambda b: json.dumps({**json.loads(b), "max_position_embeddings": "x"}).encode()),
}


@pytest.mark.parametrize("command", ["eval", "train"])
@pytest.mark.parametrize("kind", sorted(DAMAGES))
def test_a_damaged_model_folder_is_one_line_naming_it(tmp_path, model_copy, real_glue, command, kind):
    name, change = DAMAGES[kind]
    damage(model_copy, name, change((model_copy / name).read_bytes()))
    if command == "eval":
        args = ("eval", "mrpc", "--model", model_copy, "--backend", "torch", "--max-eval-samples", "8")
    else:
        args = ("train", "mrpc", "--model", model_copy, "--output-dir", tmp_path / "run", *FAST)
    one_line_error(glue(*args), str(model_copy))
    assert not (tmp_path / "run").exists()  # a run that failed before its first checkpoint leaves nothing


def test_output_dir_under_a_file(tmp_path, tiny_model, real_glue):
    (tmp_path / "file").write_text("x")
    one_line_error(glue("train", "mrpc", "--model", tiny_model, "--output-dir", tmp_path / "file" / "run", *FAST),
                   "is a file")


def test_predict_output_dir_that_is_a_file(tmp_path, tiny_model, real_glue):
    (tmp_path / "out").write_text("x")
    one_line_error(glue("predict", "mrpc", "--model", tiny_model, "--backend", "torch", "--output-dir",
                        tmp_path / "out"), "is a file")
    assert (tmp_path / "out").read_text() == "x"


def test_a_full_disk_keeps_the_previous_checkpoint_and_resume_completes(tmp_path, tiny_model, real_glue,
                                                                       monkeypatch):
    from glue_plugins.torch_backend.engine import TorchEngine

    reference = ok("train", "mrpc", "--model", tiny_model, "--output-dir", tmp_path / "ref", *FAST, "--json").json()
    save_state = TorchEngine.save_state
    calls = []

    def full_disk(self, path):
        calls.append(path)
        if len(calls) == 2:  # the second epoch's checkpoint: the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(path / "optimizer.safetensors"))
        save_state(self, path)

    monkeypatch.setattr(TorchEngine, "save_state", full_disk)
    run = tmp_path / "run"
    line = one_line_error(glue("train", "mrpc", "--model", tiny_model, "--output-dir", run, *FAST),
                          "No space left on device", "--resume")
    assert str(run / "checkpoint") in line
    assert json.loads((run / "checkpoint" / "state.json").read_text())["step"] == 2  # epoch 1's, intact
    assert not list(run.glob(".*.tmp")) and not (run / "metrics.json").exists()
    monkeypatch.setattr(TorchEngine, "save_state", save_state)  # space freed
    resumed = ok("train", "mrpc", "--model", tiny_model, "--output-dir", run, *FAST, "--resume", "--json").json()
    assert resumed["eval"] == reference["eval"]


def test_verbose_adds_the_traceback_to_the_line(tmp_path, model_copy, real_glue):
    damage(model_copy, "model.safetensors", b"\0" * 64)
    result = glue("eval", "mrpc", "--model", model_copy, "--backend", "torch", "--max-eval-samples", "8", "--verbose")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and result.stderr.rstrip().splitlines()[-1].startswith("Error: ")
