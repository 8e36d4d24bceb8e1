"""What long steps and finished steps say: progress for glue eval/predict, where --do-predict wrote,
the step --resume continues from, glue eval's title."""

import pytest

from helpers import glue_interrupted, ok

torch = pytest.importorskip("torch")

FAST = ("--max-train-samples", "48", "--max-eval-samples", "40", "--batch-size", "16", "--learning-rate", "1e-3")


def test_resume_says_from_which_step_and_do_predict_says_where(tmp_path, tiny_model, real_glue):
    args = ("train", "mrpc", "--backend", "torch", "--model", tiny_model, "--output-dir", tmp_path / "run", *FAST,
            "--epochs", "2", "--do-predict")
    assert glue_interrupted(*args).exit_code == 130
    resumed = ok(*args, "--resume")
    assert "Resuming from the checkpoint at step 3 of 6 (after epoch 1)." in resumed.stderr
    written = tmp_path / "run" / "predictions" / "MRPC.tsv"
    assert written.is_file()
    assert "Test predictions:" in resumed.stderr
    assert f"test: {written}" in resumed.stderr.replace("\n", "")
    assert "Resuming" not in ok(*args[:-1], "--overwrite").stderr


def test_eval_and_predict_show_progress_and_a_short_title(tmp_path, tiny_model, real_glue):
    run = tmp_path / "a-rather-long-folder-name-for-runs" / "mrpc-torch-20260101-000000-with-more-words"
    ok("train", "mrpc", "--backend", "torch", "--model", tiny_model, "--output-dir", run, *FAST, "--epochs", "1",
       "--quiet")
    evaluated = ok("eval", "--model", run, "--max-eval-samples", "40")
    assert "evaluating mrpc" in evaluated.stderr and "40/40" in evaluated.stderr
    assert "mrpc on torch" in evaluated.stderr
    assert f"Evaluated {run}" in evaluated.stderr.replace("\n", "")
    assert "evaluating" not in ok("eval", "--model", run, "--max-eval-samples", "40", "--quiet").stderr

    predicted = ok("predict", "--model", run)
    assert "predicting mrpc" in predicted.stderr and "1725/1725" in predicted.stderr
    assert f"test: {run / 'predictions' / 'MRPC.tsv'}" in predicted.stderr.replace("\n", "")
    assert predicted.stdout == ""


def test_the_console_shows_evaluation_under_way_on_a_terminal_only(monkeypatch):
    import io

    from rich.console import Console

    from glue_cli.training import events
    from glue_plugins.reporters import console as console_reporter

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100, color_system=None, highlight=False)
    monkeypatch.setattr(console_reporter, "console", lambda: terminal)
    reporter = console_reporter.ConsoleReporter()
    reporter.glue_on_event(events.RunStarted(".", "mnli", "torch", "cpu", "fp32", "m", 1, 1, 1, 8,
                                             {"validation_matched": 40, "validation_mismatched": 30}))
    reporter.glue_on_event(events.EpochEnded(1, 1.0, 0.5, 8, 8.0))
    assert reporter.spinner is not None and "validation_matched (40 examples)" in str(
        reporter.spinner.columns[1].text_format)
    reporter.glue_on_event(events.EvalEnded(1, "validation_matched", {"accuracy": 0.5}, 40, 1.0))
    assert "validation_mismatched (30 examples)" in str(reporter.spinner.columns[1].text_format)
    reporter.glue_on_event(events.EvalEnded(1, "validation_mismatched", {"accuracy": 0.5}, 30, 1.0))
    reporter.glue_on_event(events.CheckpointSaved("c", 1, 1))
    assert reporter.spinner is None
    assert "validation_mismatched: accuracy 0.5000" in screen.getvalue()

    piped = Console(file=io.StringIO(), force_terminal=False)
    monkeypatch.setattr(console_reporter, "console", lambda: piped)
    reporter.glue_on_event(events.RunStarted(".", "mrpc", "torch", "cpu", "fp32", "m", 1, 1, 1, 8, {"validation": 4}))
    reporter.glue_on_event(events.EpochEnded(1, 1.0, 0.5, 8, 8.0))
    assert reporter.spinner is None
