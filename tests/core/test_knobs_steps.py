"""--eval-steps, --save-steps, --logging-steps, --max-steps, schedulers and warm-up steps, and resuming
from a mid-epoch checkpoint, on the default backend (the loop is the core's: tests/backends/test_knobs_backends.py
runs the same knobs on each backend)."""

import json

import pytest
from knobs import interrupted_at, of_kind, run_args, train

from glue_cli.training.optimization import Schedule
from helpers import glue, ok


def test_eval_save_and_logging_every_n_updates(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    summary = train(run, tiny_model, "--epochs", "2", "--eval-steps", "2", "--save-steps", "2",
                    "--logging-steps", "2")
    assert [c["step"] for c in of_kind(run, "checkpoint")] == [2, 4, 6]
    evals = of_kind(run, "eval")
    assert len(evals) == 3  # steps 2, 4, 6 (and no extra one at the end of epoch 1)
    # Every 2 updates, and at each epoch's last one: the mean loss over the updates since the last line.
    steps = of_kind(run, "step")
    assert [s["step"] for s in steps] == [2, 3, 4, 6]
    assert [s["examples"] for s in steps] == [32, 16, 16, 32]
    assert summary["train"]["steps"] == 6
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert (state["step"], state["epoch"], state["epoch_step"], state["steps_per_epoch"]) == (6, 2, 0, 3)


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
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert (state["step"], state["epoch"], state["epoch_step"]) == (4, 1, 1)  # ended mid-epoch 2
    # More steps on resume: the cut epoch is reopened, so the run still has two epochs' times.
    more = ok(*run_args(run, tiny_model, "--resume", "--max-steps", "6", "--json", "-q")).json()
    assert more["train"]["steps"] == 6 and len(more["train"]["epoch_seconds"]) == 2


@pytest.mark.parametrize("cut", [2, 4])
def test_resume_from_a_mid_epoch_checkpoint_continues_exactly(tmp_path, tiny_model, real_glue, cut):
    knobs = ("--epochs", "2", "--save-steps", "2", "--eval-steps", "2")
    full = train(tmp_path / "full", tiny_model, *knobs)
    args = run_args(tmp_path / "cut", tiny_model, *knobs)
    interrupted = interrupted_at(cut, *args)
    assert interrupted.exit_code == 130
    state = json.loads((tmp_path / "cut/checkpoint/state.json").read_text())
    assert (state["step"], state["epoch"], state["epoch_step"]) == (cut, (cut - 1) // 3, cut - 3 * ((cut - 1) // 3))
    assert state["best"]["step"] in (2, 4) and state["last_eval"]["step"] == cut  # the best so far travels
    resumed = ok(*args, "--resume", "--json", "-q").json()
    assert resumed["eval"] == full["eval"] and resumed["best"] == full["best"]
    assert resumed["last_eval"] == full["last_eval"]
    assert resumed["train"]["steps"] == full["train"]["steps"] == 6
    assert len(resumed["train"]["epoch_seconds"]) == 2  # the whole run's epochs, across the resume
    # The same updates: each step's loss, in order, once before the cut and once after it.
    losses = [(s["step"], s["loss"]) for s in of_kind(tmp_path / "full", "step")]
    assert [(s["step"], s["loss"]) for s in of_kind(tmp_path / "cut", "step")] == losses


def test_sigterm_mid_epoch_with_eval_steps_resumes_exactly(tmp_path, tiny_model, real_glue):
    """SIGTERM checkpoints the step it stopped at, after the evaluation due there."""
    from glue_cli.plugins.hookspecs import hookimpl
    from glue_cli.plugins.manager import get_plugins
    from glue_cli.training import events
    from helpers import reset_plugins

    class TermAtStep2:
        @hookimpl
        def glue_on_event(self, event):
            if isinstance(event, events.StepEnded) and event.step == 2:
                import os
                import signal

                os.kill(os.getpid(), signal.SIGTERM)

    knobs = ("--epochs", "2", "--eval-steps", "2")
    full = train(tmp_path / "full", tiny_model, *knobs)
    args = run_args(tmp_path / "cut", tiny_model, *knobs)
    reset_plugins()
    get_plugins().pm.register(TermAtStep2(), name="term")
    from typer.testing import CliRunner

    from glue_cli.cli import build_app

    stopped = CliRunner().invoke(build_app(), [str(a) for a in args])
    assert stopped.exit_code == 143, stopped.stderr
    assert [e["step"] for e in of_kind(tmp_path / "cut", "checkpoint")] == [2]
    resumed = ok(*args, "--resume", "--json", "-q").json()
    assert resumed["eval"] == full["eval"] and resumed["best"] == full["best"]


@pytest.mark.parametrize(("kind", "rates"), [
    ("constant-with-warmup", [0.0, 5e-4, 1e-3]),
    ("cosine", [1e-3, 7.5e-4, 2.5e-4]),
    ("constant", [1e-3, 1e-3, 1e-3]),
])
def test_lr_scheduler_and_warmup_steps_reach_every_step(tmp_path, tiny_model, real_glue, kind, rates):
    warmup = ("--warmup-steps", "2") if kind == "constant-with-warmup" else ()
    train(tmp_path / "r", tiny_model, "--epochs", "1", "--lr-scheduler", kind, *warmup)
    assert [s["learning_rate"] for s in of_kind(tmp_path / "r", "step")] == pytest.approx(rates)
    assert json.loads((tmp_path / "r/config.json").read_text())["lr_scheduler"] == kind


def test_an_unknown_scheduler_is_one_line(tmp_path, tiny_model):
    bad = glue("train", "mrpc", "--model", tiny_model, "--output-dir", tmp_path / "x", "--lr-scheduler", "step")
    lines = bad.stderr.strip().splitlines()
    assert bad.exit_code == 2 and len(lines) == 1 and "constant-with-warmup" in lines[0]
    for flag, value in (("--eval-steps", "0"), ("--adam-beta2", "1.0"), ("--adam-epsilon", "0"),
                        ("--label-smoothing", "-0.1"), ("--gradient-accumulation-steps", "0"),
                        ("--warmup-steps", "-1"), ("--early-stopping-patience", "0")):
        result = glue("train", "mrpc", "--model", tiny_model, "--output-dir", tmp_path / "x", flag, value)
        assert result.exit_code == 2 and flag in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("kind", "hf"), [
    ("linear", "_get_linear_schedule_with_warmup_lr_lambda"),
    ("cosine", "_get_cosine_schedule_with_warmup_lr_lambda"),
    ("constant-with-warmup", "_get_constant_schedule_with_warmup_lr_lambda"),
    ("constant", "_get_constant_lambda"),
])
def test_schedules_are_transformers_own(kind, hf):
    optimization = pytest.importorskip("transformers.optimization")
    ours = Schedule(2e-5, 100, 10, kind)
    args = {"linear": {"num_warmup_steps": 10, "num_training_steps": 100},
            "cosine": {"num_warmup_steps": 10, "num_training_steps": 100, "num_cycles": 0.5},
            "constant-with-warmup": {"num_warmup_steps": 10}, "constant": {}}[kind]
    for step in range(0, 101):
        expected = 2e-5 * getattr(optimization, hf)(step, **args)
        assert ours.rate(step) == pytest.approx(expected, abs=1e-12), step
