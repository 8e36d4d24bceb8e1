"""--report-to and the TensorBoard reporter: event files TensorBoard reads back, equal to history.jsonl."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from glue_cli.cli import build_app
from glue_cli.config import resolve
from glue_cli.errors import UnknownNameError
from glue_cli.plugins.hookspecs import hookimpl
from glue_cli.plugins.manager import get_plugins
from glue_cli.plugins.reporting import enabled_reporters
from glue_cli.training import events
from helpers import glue, ok, reset_plugins

FAST = ("--max-train-samples", "48", "--max-eval-samples", "40", "--batch-size", "16",
        "--learning-rate", "1e-3")


def train(run, model, *extra):
    return ok("train", "mrpc", "--model", model, "--output-dir", run, *FAST, *extra)


def history(run):
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def f32(value):
    """TensorBoard scalars are float32 (``simple_value``)."""
    return float(np.float32(value))


def test_scalars_tensorboard_reads_back_equal_the_history(tmp_path, tiny_model, real_glue):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    train(run, tiny_model, "--epochs", "2", "--report-to", "tensorboard")
    accumulator = EventAccumulator(str(run / "tensorboard"))
    accumulator.Reload()
    scalars = {tag: [(s.step, s.value) for s in accumulator.Scalars(tag)]
               for tag in accumulator.Tags()["scalars"]}
    assert set(scalars) == {
        "train/loss", "train/learning_rate", "train/epoch_loss", "train/epoch_seconds",
        "train/examples_per_second",
        "eval/validation/f1", "eval/validation/accuracy", "eval/validation/combined_score",
    }
    logged = history(run)
    steps = [h for h in logged if h["event"] == "step"]
    assert len(steps) == 6
    assert scalars["train/loss"] == [(h["step"], f32(h["loss"])) for h in steps]
    assert scalars["train/learning_rate"] == [(h["step"], f32(h["learning_rate"])) for h in steps]
    # Per-epoch values sit at the epoch's last step, so they line up with the loss curve.
    last_step = {h["epoch"]: h["step"] for h in steps}
    epochs = [h for h in logged if h["event"] == "epoch_end"]
    assert scalars["train/epoch_loss"] == [(last_step[h["epoch"]], f32(h["train_loss"])) for h in epochs]
    evals = [h for h in logged if h["event"] == "eval"]
    assert len(evals) == 2
    for metric in ("f1", "accuracy", "combined_score"):
        assert scalars[f"eval/validation/{metric}"] == [
            (last_step[h["epoch"]], f32(h["metrics"][metric])) for h in evals
        ]


class InterruptAtStep4:
    """Ctrl-C during the second epoch (3 steps each), after step 4 was reported (trylast: to every reporter)."""

    @hookimpl(trylast=True)
    def glue_on_event(self, event):
        if isinstance(event, events.StepEnded) and event.step == 4:
            raise KeyboardInterrupt


def test_a_resumed_run_shows_each_step_once(tmp_path, tiny_model, real_glue):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    args = ("train", "mrpc", "--model", tiny_model, "--output-dir", run, *FAST,
            "--epochs", "2", "--report-to", "tensorboard")
    reset_plugins()
    get_plugins().pm.register(InterruptAtStep4(), name="interrupt")
    assert CliRunner().invoke(build_app(), [str(a) for a in args]).exit_code == 130
    ok(*args, "--resume")
    # history.jsonl keeps both runs' step 4; TensorBoard drops the interrupted run's steps after its
    # checkpoint (step 3), so the curve has each step once, the resumed run's value.
    steps = [h for h in history(run) if h["event"] == "step"]
    assert [h["step"] for h in steps] == [1, 2, 3, 4, 4, 5, 6]
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 2
    accumulator = EventAccumulator(str(run / "tensorboard"))
    accumulator.Reload()
    latest = {h["step"]: f32(h["loss"]) for h in steps}
    assert [(s.step, s.value) for s in accumulator.Scalars("train/loss")] == sorted(latest.items())
    assert [s.step for s in accumulator.Scalars("eval/validation/accuracy")] == [3, 6]


def test_opt_in_reporters_get_no_events_unless_named(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    train(run, tiny_model, "--epochs", "1")
    assert (run / "history.jsonl").is_file() and not (run / "tensorboard").exists()


def test_report_to_names_resolve_like_other_options(tmp_path, monkeypatch):
    settings = tmp_path / "glue.toml"
    settings.write_text('report_to = ["tensorboard"]\n')
    assert resolve({"task": "mrpc"}, settings).report_to == "tensorboard"
    monkeypatch.setenv("GLUE_REPORT_TO", "none")
    assert resolve({"task": "mrpc"}, settings).report_to == "none"
    assert resolve({"task": "mrpc", "report_to": "tensorboard"}, settings).report_to == "tensorboard"

    reset_plugins()
    pm = get_plugins().pm
    # `none` and the always-on reporters turn nothing on; names match like task names do.
    assert enabled_reporters(["none", "history", "Console"], pm) == frozenset()
    with pytest.raises(UnknownNameError):
        enabled_reporters(["wandb"], pm)


def test_unknown_reporter_is_one_line_before_any_work(tmp_path, tiny_model):
    result = glue("train", "mrpc", "--model", tiny_model, "--output-dir", tmp_path / "run",
                  "--report-to", "tensorboard,wandb")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "'wandb'" in lines[0] and "tensorboard" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


# Runs the CLI as a user would, in an environment where `import tensorboard` fails.
WITHOUT_TENSORBOARD = "import sys; sys.modules['tensorboard'] = None; from glue_cli.cli import main; main()"


def test_missing_tensorboard_is_one_line_with_the_install_command(tmp_path, tiny_model):
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TENSORBOARD, "train", "mrpc", "--model", str(tiny_model),
         "--output-dir", str(tmp_path / "run"), "--report-to", "tensorboard"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert 'pip install -c constraints.txt -e ".[tensorboard]"' in lines[0]  # the tests run from a clone
    assert not (tmp_path / "run").exists()


WRITE_WITHOUT_FRAMEWORKS = """
import sys
from glue_cli.training import events
from glue_plugins.reporters.tensorboard import reporter
reporter.glue_on_event(events.RunStarted(
    sys.argv[1], "mrpc", "torch", "cpu", "fp32", "m", 1, 1, 1, 16, {"validation": 8}))
reporter.glue_on_event(events.StepEnded(1, 1, 0.5, 1e-3, 16, 0.1))
reporter.glue_on_event(events.EvalEnded(1, "validation", {"accuracy": 0.75}, 8, 0.1))
reporter.glue_on_event(events.RunEnded({"validation": {"accuracy": 0.75}}, 1.0, 1.0))
print(sorted(m for m in ("torch", "tensorflow", "jax", "tensorboardX") if m in sys.modules))
"""


def test_writing_events_imports_no_framework(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    done = subprocess.run([sys.executable, "-c", WRITE_WITHOUT_FRAMEWORKS, str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    accumulator = EventAccumulator(str(tmp_path / "tensorboard"))
    accumulator.Reload()
    assert [(s.step, s.value) for s in accumulator.Scalars("train/loss")] == [(1, 0.5)]
    assert [(s.step, s.value) for s in accumulator.Scalars("eval/validation/accuracy")] == [(1, 0.75)]


def test_an_event_reaches_every_always_on_reporter_but_not_an_unnamed_opt_in_one():
    reset_plugins()
    pm = get_plugins().pm
    seen = []

    class OptIn:
        opt_in = True

        @hookimpl
        def glue_on_event(self, event):
            seen.append(event.kind)

    pm.register(OptIn(), name="acme-reporter")
    event = events.EpochStarted(1, 3, 0)
    events.EventSink(pm)(event)
    assert seen == []
    events.EventSink(pm, enabled_reporters(["acme-reporter"], pm))(event)
    assert seen == ["epoch_start"]
    reset_plugins()
