"""--eval-steps, --save-steps, --logging-steps, --max-steps, and resuming from a mid-epoch checkpoint."""

import json

import pytest
from knobs_helpers import interrupted_at, of_kind, ok, run_args, train

from helpers import framework_installed

pytest.importorskip("torch")


def test_eval_save_and_logging_every_n_updates(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    summary = train(run, tiny_model, "--epochs", "2", "--eval-steps", "2", "--save-steps", "2",
                    "--logging-steps", "2")
    assert [c["step"] for c in of_kind(run, "checkpoint")] == [2, 4, 6]
    assert len(of_kind(run, "eval")) == 3  # steps 2, 4, 6 (and no extra one at the end of epoch 1)
    # Every 2 updates, and at each epoch's last one: the mean loss over the updates since the last line.
    steps = of_kind(run, "step")
    assert [s["step"] for s in steps] == [2, 3, 4, 6]
    assert [s["examples"] for s in steps] == [32, 16, 16, 32]
    assert summary["train"]["steps"] == 6
    assert json.loads((run / "checkpoint" / "state.json").read_text())["step"] == 6


def test_defaults_are_each_epoch_and_each_step(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    train(run, tiny_model, "--epochs", "2")
    assert [c["step"] for c in of_kind(run, "checkpoint")] == [3, 6]
    assert len(of_kind(run, "eval")) == 2
    assert [s["step"] for s in of_kind(run, "step")] == [1, 2, 3, 4, 5, 6]


def test_max_steps_overrides_epochs_and_the_schedule_follows(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    summary = train(run, tiny_model, "--epochs", "1", "--max-steps", "4", "--warmup-steps", "1")
    start = of_kind(run, "run_start")[0]
    assert start["total_steps"] == 4 and start["epochs"] == 2
    rates = [s["learning_rate"] for s in of_kind(run, "step")]
    # Linear warm-up over 1 update, then decay to 0 over the 4 updates --max-steps asks for.
    assert rates == pytest.approx([0.0, 1e-3, 1e-3 * 2 / 3, 1e-3 / 3])
    assert summary["train"]["steps"] == 4 and len(of_kind(run, "eval")) == 2  # epoch 1's end, the last step
    assert [c["step"] for c in of_kind(run, "checkpoint")] == [3, 4]


@pytest.mark.parametrize("cut", [2, 4])
def test_resume_from_a_mid_epoch_checkpoint_continues_exactly(tmp_path, tiny_model, real_glue, cut):
    knobs = ("--epochs", "2", "--save-steps", "2", "--eval-steps", "2")
    full = train(tmp_path / "full", tiny_model, *knobs)
    args = run_args(tmp_path / "cut", tiny_model, "torch", *knobs)
    interrupted = interrupted_at(cut, *args)
    assert interrupted.exit_code == 130
    state = json.loads((tmp_path / "cut/checkpoint/state.json").read_text())
    assert state == {"step": cut, "epoch": 1 + (cut - 1) // 3, "backend": "torch"}  # mid-epoch
    resumed = ok(*args, "--resume", "--json", "-q").json()
    assert resumed["eval"] == full["eval"] and resumed["best"] == full["best"]
    assert resumed["last_eval"] == full["last_eval"]
    assert resumed["train"]["steps"] == 6 - cut
    # The same updates: each step's loss, in order, once before the cut and once after it.
    losses = [(s["step"], s["loss"]) for s in of_kind(tmp_path / "full", "step")]
    assert [(s["step"], s["loss"]) for s in of_kind(tmp_path / "cut", "step")] == losses


@pytest.mark.parametrize("backend", [
    pytest.param(b, marks=pytest.mark.skipif(not framework_installed(b), reason=f"{b} not installed"))
    for b in ("tf", "flax")
])
def test_mid_epoch_resume_on_the_other_backends(tmp_path, tiny_model, real_glue, backend):
    knobs = ("--epochs", "1", "--save-steps", "1", "--eval-steps", "2")
    full = train(tmp_path / "full", tiny_model, *knobs, backend=backend)
    args = run_args(tmp_path / "cut", tiny_model, backend, *knobs)
    assert interrupted_at(1, *args).exit_code == 130
    resumed = ok(*args, "--resume", "--json", "-q").json()
    assert resumed["best"]["step"] == full["best"]["step"] and resumed["train"]["steps"] == 2
    assert resumed["eval"]["validation"] == pytest.approx(full["eval"]["validation"], abs=1e-6)
    losses = [s["loss"] for s in of_kind(tmp_path / "full", "step")]
    assert [s["loss"] for s in of_kind(tmp_path / "cut", "step")] == pytest.approx(losses, rel=1e-5)
