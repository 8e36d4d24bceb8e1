"""The run directory is never lost nor shared: --overwrite, --resume, the lock, kills' leftovers, paths."""

import json
import os
import shutil

import pytest
from test_errors import one_line_error

from helpers import glue, ok

pytest.importorskip("torch")

FAST = ("--backend", "torch", "--max-train-samples", "16", "--max-eval-samples", "16", "--batch-size", "8",
        "--learning-rate", "1e-3", "--epochs", "1")


def train_args(model, out, *extra):
    return ("train", "mrpc", "--model", model, "--output-dir", out, *FAST, *extra)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model, real_glue):
    """One finished tiny run, copied by the tests that change it."""
    root = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLUE_CACHE_DIR", str(root / "cache"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("GLUE_DIR", str(real_glue))
        mp.chdir(root)
        ok(*train_args(tiny_model, root / "run", "-q"))
    return root / "run"


def copy_run(finished_run, tmp_path):
    return shutil.copytree(finished_run, tmp_path / "run")


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, tiny_model, real_glue):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("years of work")
    one_line_error(glue(*train_args(tiny_model, thesis, "--overwrite")), "not a glue-cli run")
    assert (thesis / "chapter1.tex").read_text() == "years of work"
    assert sorted(p.name for p in thesis.iterdir()) == ["chapter1.tex"]  # not even a lock file


def test_overwrite_refuses_the_current_folder(tmp_path, tiny_model, real_glue, finished_run):
    run = copy_run(finished_run, tmp_path)
    os.chdir(run)
    one_line_error(glue(*train_args(tiny_model, ".", "--overwrite")), "current folder")
    assert (run / "metrics.json").is_file()


def test_overwrite_replaces_a_run_and_keeps_it_until_the_new_one_finished(tmp_path, tiny_model, real_glue,
                                                                          finished_run):
    run = copy_run(finished_run, tmp_path)
    (run / "marker").write_text("old run")
    # A failure before the new run's first checkpoint puts the old run back, untouched.
    one_line_error(glue(*train_args(tiny_model, run, "--overwrite", "--data-dir", tmp_path / "nope")),
                   "does not exist")
    assert (run / "marker").read_text() == "old run" and (run / "metrics.json").is_file()
    assert not (tmp_path / ".run.replaced").exists()
    ok(*train_args(tiny_model, run, "--overwrite", "-q"))
    assert not (run / "marker").exists() and (run / "metrics.json").is_file()
    assert not (tmp_path / ".run.replaced").exists()


def test_resume_on_a_finished_run_changes_nothing(tmp_path, tiny_model, real_glue, finished_run):
    run = copy_run(finished_run, tmp_path)
    before = (run / "metrics.json").read_bytes()
    one_line_error(glue(*train_args(tiny_model, run, "--resume", "--json")), "is finished", "unchanged")
    assert (run / "metrics.json").read_bytes() == before
    one_line_error(glue(*train_args(tiny_model, run, "--resume", "--seed", "3")), "--resume refused", "--seed")
    assert (run / "metrics.json").read_bytes() == before


def test_resume_after_a_kill_in_the_final_save_finishes_the_job(tmp_path, tiny_model, real_glue, finished_run):
    run = copy_run(finished_run, tmp_path)
    expected = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").unlink()  # killed after the last checkpoint, during the final save:
    os.replace(run / "model", run / ".model.old")  # ... between the two renames of model/
    (run / ".checkpoint.abc.tmp").mkdir()  # ... and a half-written checkpoint
    (run / ".checkpoint.abc.tmp" / "model.safetensors").write_bytes(b"half")
    summary = ok(*train_args(tiny_model, run, "--resume", "--json", "-q")).json()
    assert summary["eval"] == expected["eval"] and summary["eval"]["validation"]
    assert summary["train"]["steps"] == expected["train"]["steps"] == 2
    assert (run / "model" / "model.safetensors").is_file()
    assert not list(run.glob(".*.tmp")) and not (run / ".model.old").exists()
    assert (run / "eval_predictions" / "validation.tsv").is_file()


def test_a_checkpoint_left_as_old_by_a_kill_is_recovered(tmp_path, tiny_model, real_glue, finished_run):
    run = copy_run(finished_run, tmp_path)
    expected = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").unlink()
    os.replace(run / "checkpoint", run / ".checkpoint.old")
    summary = ok(*train_args(tiny_model, run, "--resume", "--json", "-q")).json()
    assert summary["eval"] == expected["eval"]
    assert (run / "checkpoint" / "state.json").is_file() and not (run / ".checkpoint.old").exists()


@pytest.mark.parametrize(("change", "setting"), [
    (("--max-train-samples", "12"), "--max-train-samples"),
    (("--learning-rate", "0.002"), "--learning-rate"),
    (("--seed", "7"), "--seed"),
    (("--batch-size", "4"), "--batch-size"),
])
def test_resume_refuses_settings_that_change_the_run(tmp_path, tiny_model, real_glue, finished_run, change,
                                                     setting):
    run = copy_run(finished_run, tmp_path)
    (run / "metrics.json").unlink()
    line = one_line_error(glue(*train_args(tiny_model, run, "--resume", *change)), "--resume refused", setting)
    assert change[1] in line
    assert not (run / "metrics.json").exists()


def test_resume_allows_settings_that_do_not_change_the_run(tmp_path, tiny_model, real_glue, finished_run):
    run = copy_run(finished_run, tmp_path)
    (run / "metrics.json").unlink()
    ok(*train_args(tiny_model, run, "--resume", "--eval-batch-size", "4", "-q"))


def test_resume_without_checkpoint_hints_a_command_that_works(tmp_path, tiny_model, real_glue, finished_run):
    run = copy_run(finished_run, tmp_path)
    (run / "metrics.json").unlink()
    shutil.rmtree(run / "checkpoint")
    line = one_line_error(glue(*train_args(tiny_model, run, "--resume")), "no checkpoint")
    assert "--overwrite" in line
    ok(*train_args(tiny_model, run, "--overwrite", "-q"))


def test_a_locked_run_directory_is_refused(tmp_path, tiny_model, real_glue, finished_run):
    from glue_cli.runs.rundir import RunLock

    run = copy_run(finished_run, tmp_path)
    (run / "metrics.json").unlink()
    lock = RunLock(run)  # another process's lock: flock conflicts between open files, even in one process
    try:
        one_line_error(glue(*train_args(tiny_model, run, "--resume")), "in use by another glue process")
        one_line_error(glue(*train_args(tiny_model, run, "--overwrite")), "in use by another glue process")
    finally:
        lock.release()
    assert (run / "checkpoint" / "state.json").is_file()


def test_damaged_checkpoint_files_are_one_line(tmp_path, tiny_model, real_glue, finished_run):
    run = copy_run(finished_run, tmp_path)
    (run / "metrics.json").unlink()
    state = run / "checkpoint" / "state.json"
    state.write_text("")
    one_line_error(glue(*train_args(tiny_model, run, "--resume")), str(state))
    state.write_text('{"step": "two"}')
    one_line_error(glue(*train_args(tiny_model, run, "--resume")), str(state))
    state.write_text('{"step": 2, "epoch": 1}')
    optimizer = run / "checkpoint" / "optimizer.safetensors"
    optimizer.write_bytes(optimizer.read_bytes()[:100])
    one_line_error(glue(*train_args(tiny_model, run, "--resume")), "checkpoint")


def test_a_custom_task_name_cannot_leave_runs(tmp_path, tiny_model):
    (tmp_path / "t.csv").write_text("text,label\na b,x\nc d,y\n")
    for name in ("../../../escaped", "/tmp/abs", "a/b", ".."):
        one_line_error(glue("train", name, "--train-file", tmp_path / "t.csv", "--validation-file",
                            tmp_path / "t.csv", "--text-fields", "text", "--model", tiny_model), "Task name")
    assert not (tmp_path.parent.parent / "escaped").exists()
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["../../X", "/abs/path/X", "a/../../X", ".."])
def test_a_model_folder_cannot_choose_where_predictions_go(tmp_path, tiny_model, real_glue, finished_run, name):
    run = copy_run(finished_run, tmp_path)
    config_file = run / "model" / "config.json"
    config = json.loads(config_file.read_text())
    config["glue_task"] = {"name": name, "custom": True, "text_fields": ["text"], "labels": ["0", "1"],
                           "label_field": "label"}
    config_file.write_text(json.dumps(config))
    (tmp_path / "test.csv").write_text("text\na b\n")
    for extra in ((), ("--overwrite",)):
        one_line_error(glue("predict", "--model", run, "--test-file", tmp_path / "test.csv", *extra), "Task name")
    assert not list(tmp_path.parent.rglob("X.tsv"))


def test_a_damaged_cache_entry_is_rebuilt(tmp_path, tiny_model, real_glue):
    args = ("eval", "mrpc", "--model", tiny_model, "--backend", "torch", "--max-eval-samples", "16", "--json")
    first = ok(*args).json()
    entries = list((tmp_path / "cache" / "features").glob("*.npz"))
    assert entries
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[:50])  # truncated: BadZipFile before
    assert ok(*args).json() == first
    assert not list((tmp_path / "cache" / "features").glob(".*.tmp"))
