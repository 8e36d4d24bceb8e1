"""glue runs: the run directories under a folder, with status, best metric, time and speed."""

import json
from pathlib import Path

import pytest

from glue_cli.runs.rundir import RunLock
from glue_cli.runs.runlist import read_history
from glue_cli.training import events
from helpers import glue, ok


def fake_run(path: Path, *, lr: float = 2e-5, backend: str = "torch", epochs: int = 2, done: int = 2,
             finished: bool = True, checkpoint: bool = True, f1: tuple[float, ...] = (0.70, 0.80),
             start: float = 1000.0) -> Path:
    """A run directory as glue train writes it (events serialized by glue's own event classes)."""
    path.mkdir(parents=True)
    per_epoch = 4
    (path / "config.json").write_text(json.dumps({
        "task": "mrpc", "backend": backend, "precision": "fp32", "learning_rate": lr, "epochs": epochs,
        "batch_size": 32, "seed": 42, "model": "all-MiniLM-L6-v2", "output_dir": str(path),
        "versions": {"glue-cli": "0.1.0", backend: "1.0"},
    }))
    lines = []
    t = start

    def add(event: events.Event) -> None:
        nonlocal t
        t += 1
        lines.append(json.dumps({"time": t, **event.to_dict()}))

    add(events.RunStarted(str(path), "mrpc", backend, "cpu", "fp32", "m", epochs, per_epoch, epochs * per_epoch,
                          128, {"validation": 40}))
    step = 0
    for epoch in range(1, done + 1):
        add(events.EpochStarted(epoch, per_epoch, step))
        for _ in range(per_epoch):
            step += 1
            add(events.StepEnded(step, epoch, 0.7 - 0.05 * step, lr * (1 - step / (epochs * per_epoch)), 32, 0.5))
        add(events.EpochEnded(epoch, 2.0, 0.6, 128, 64.0))
        add(events.EvalEnded(epoch, "validation", {"f1": f1[epoch - 1], "accuracy": f1[epoch - 1] - 0.1}, 40, 1.0))
        add(events.CheckpointSaved(str(path / "checkpoint"), step, epoch))
    if checkpoint and done:
        (path / "checkpoint").mkdir()
        (path / "checkpoint" / "state.json").write_text(json.dumps({"step": step, "epoch": done}))
    if finished:
        final = {"f1": f1[done - 1], "accuracy": f1[done - 1] - 0.1}
        (path / "metrics.json").write_text(json.dumps({
            "task": "mrpc", "backend": backend, "precision": "fp32", "eval": {"validation": final},
            "train": {"seconds": 4.0, "epoch_seconds": [2.0, 2.0], "steps": step, "examples_per_second": 64.0},
        }))
        add(events.RunEnded({"validation": final}, 4.0, 6.0))
    (path / "history.jsonl").write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    fake_run(root / "mrpc-torch-a", f1=(0.75, 0.72), start=1000)
    fake_run(root / "mrpc-tf-b", backend="tf", lr=1e-4, start=2000)
    fake_run(root / "mrpc-flax-c", backend="flax", done=1, finished=False, start=3000)
    fake_run(root / "sweep" / "mrpc-torch-d", done=0, finished=False, checkpoint=False, start=4000)
    (root / "not-a-run").mkdir()
    (root / "not-a-run" / "notes.txt").write_text("x")
    return root


def test_runs_json_lists_every_run_with_status_best_time_and_speed(runs):
    rows = ok("runs", runs, "--json").json()
    assert [r["name"] for r in rows] == ["mrpc-torch-a", "mrpc-tf-b", "mrpc-flax-c", "mrpc-torch-d"]
    by = {r["name"]: r for r in rows}
    assert [by[n]["status"] for n in by] == ["finished", "finished", "resumable", "interrupted"]
    assert by["mrpc-torch-a"]["best"] == {"split": "validation", "metric": "f1", "value": 0.75, "epoch": 1}
    assert by["mrpc-tf-b"]["learning_rate"] == 1e-4 and by["mrpc-tf-b"]["backend"] == "tf"
    assert by["mrpc-torch-a"]["train_seconds"] == 4.0 and by["mrpc-torch-a"]["examples_per_second"] == 64.0
    assert by["mrpc-flax-c"]["epochs_done"] == 1 and by["mrpc-flax-c"]["train_seconds"] == 2.0
    assert by["mrpc-torch-d"]["best"] is None


def test_a_run_a_glue_process_holds_is_running_and_no_longer_once_it_lets_go(runs):
    lock = RunLock(runs / "mrpc-flax-c")  # what glue train holds while it trains
    try:
        by = {r["name"]: r["status"] for r in ok("runs", runs, "--json").json()}
        assert by["mrpc-flax-c"] == "running" and by["mrpc-torch-a"] == "finished"
        assert "running" in ok("runs", runs).stdout
    finally:
        lock.release()
    assert {r["name"]: r["status"] for r in ok("runs", runs, "--json").json()}["mrpc-flax-c"] == "resumable"


def test_runs_table_on_stdout_one_line_per_run(runs, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = ok("runs", runs).stdout
    line = next(x for x in out.splitlines() if "mrpc-torch-a" in x)
    assert "f1 0.7500 (epoch 1)" in line and "finished" in line and "2/2" in line and "4.0 s" in line
    assert "sweep/mrpc-torch-d" in out and "interrupted" in out
    assert "resumable" in next(x for x in out.splitlines() if "mrpc-flax-c" in x)
    assert " 1e-4 " in next(x for x in out.splitlines() if "mrpc-tf-b" in x)  # as people write it
    assert not out.startswith("\n")  # no blank border line before the header
    assert "…" not in out


def test_runs_defaults_to_the_runs_folder_and_says_when_it_is_missing(runs, tmp_path):
    assert len(ok("runs", "--json").json()) == 4  # the tests run in tmp_path: ./runs
    missing = glue("runs", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "No folder" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = ok("runs", tmp_path / "empty")
    assert empty.stdout == "" and "No runs in" in empty.stderr


def test_a_resumed_history_keeps_each_step_once_and_a_torn_line_is_skipped(tmp_path):
    run = fake_run(tmp_path / "r")
    lines = (run / "history.jsonl").read_text().splitlines()
    again = [json.loads(x) for x in lines if json.loads(x)["event"] == "step"][-2:]
    for e in again:
        e["loss"] = 9.0
    with open(run / "history.jsonl", "a") as f:
        f.write("".join(json.dumps(e) + "\n" for e in again) + '{"event": "st')
    history = read_history(run / "history.jsonl")
    assert [e["step"] for e in history.steps] == list(range(1, 9))
    assert [e["loss"] for e in history.steps[-2:]] == [9.0, 9.0]


def test_a_real_run_is_listed(tmp_path, tiny_model, real_glue):
    pytest.importorskip("torch")
    ok("train", "mrpc", "--backend", "torch", "--model", tiny_model, "--output-dir", tmp_path / "runs" / "tiny",
       "--max-train-samples", "32", "--max-eval-samples", "16", "--batch-size", "16", "--epochs", "1", "--quiet")
    (row,) = ok("runs", "--json").json()
    assert row["name"] == "tiny" and row["status"] == "finished" and row["epochs_done"] == 1
    assert row["best"]["metric"] == "f1" and row["examples_per_second"] > 0
