"""--metric-for-best-model, --greater-is-better and --early-stopping-patience: model/ holds the best evaluation,
metrics.json says which step it came from and what the last evaluation was."""

import pytest
from knobs import STEPS_PER_EPOCH, history, of_kind, run_args, train

from glue_cli.config import resolve
from glue_cli.errors import ConfigError
from glue_cli.training.selection import Best, best_metric
from helpers import FAST, glue, ok


def evals(run, metric="f1"):
    """(step, value, metrics) of every evaluation, the step from the step event just before it."""
    out, step = [], 0
    for h in [h for h in history(run) if h["event"] in {"step", "eval"}]:
        if h["event"] == "step":
            step = h["step"]
        else:
            out.append((step, h["metrics"][metric], h["metrics"]))
    return out


def test_model_is_the_best_evaluation_and_metrics_json_says_which(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    summary = train(run, tiny_model, "--epochs", "2", "--eval-steps", "1", "--metric-for-best-model",
                    "accuracy", "--learning-rate", "3e-3")
    seen = evals(run, "accuracy")
    assert len(seen) == 6
    best_step, best_value, best_metrics = max(seen, key=lambda e: (e[1], -e[0]))  # the first of the best
    assert summary["best"] == {"metric": "accuracy", "split": "validation", "greater_is_better": True,
                               "value": best_value, "step": best_step,
                               "epoch": 1 + (best_step - 1) // STEPS_PER_EPOCH}
    assert summary["eval"]["validation"] == best_metrics
    assert summary["last_eval"]["step"] == 6 and summary["last_eval"]["metrics"]["validation"] == seen[-1][2]
    # model/ is that model: glue eval reproduces the best evaluation, not the last one.
    again = ok("eval", "mrpc", "--model", run, "--max-eval-samples", "40", "--json").json()
    assert again["validation"] == pytest.approx(best_metrics, abs=1e-6)
    # eval_predictions/ are the best model's too.
    rows = (run / "eval_predictions" / "validation.tsv").read_text().splitlines()[1:]
    accuracy = sum(r.split("\t")[1] == r.split("\t")[2] for r in rows) / len(rows)
    assert accuracy == pytest.approx(best_metrics["accuracy"])


def test_a_loss_is_lower_is_better(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    summary = train(run, tiny_model, "--epochs", "2", "--eval-steps", "1", "--metric-for-best-model", "loss")
    seen = evals(run, "loss")
    best_step, best_value, _ = min(seen, key=lambda e: (e[1], e[0]))
    assert summary["best"]["greater_is_better"] is False
    assert (summary["best"]["step"], summary["best"]["value"]) == (best_step, best_value)
    assert summary["eval"]["validation"]["loss"] == best_value


def test_default_metric_is_the_tasks_first_and_nan_never_wins():
    config = resolve({"task": "mrpc"})
    assert best_metric(config, ("f1", "accuracy"), ("validation",)).metric == "f1"
    mnli = best_metric(config, ("accuracy",), ("validation_matched", "validation_mismatched"))
    assert (mnli.split, mnli.metric, mnli.greater_is_better) == ("validation_matched", "accuracy", True)
    named = best_metric(resolve({"task": "mrpc", "metric_for_best_model": "validation/combined_score"}),
                        ("f1", "accuracy"), ("validation",))
    assert named.metric == "combined_score"
    lower = best_metric(resolve({"task": "mrpc", "metric_for_best_model": "loss"}), ("f1",), ("validation",))
    assert not lower.greater_is_better
    assert lower.improves(1.0)
    lower.value = 1.0
    assert lower.improves(0.5) and not lower.improves(1.0) and not lower.improves(2.0)
    nan = Best("pearson", "validation", greater_is_better=True)
    assert nan.improves(float("nan"))
    nan.value = float("nan")
    assert not nan.improves(float("nan")) and nan.improves(-0.5)
    nan.value = -0.5
    assert not nan.improves(float("nan")) and not nan.improves(None)
    flipped = best_metric(resolve({"task": "mrpc", "greater_is_better": False}), ("f1",), ("validation",))
    assert not flipped.greater_is_better
    with pytest.raises(ConfigError, match="not a metric of this task"):
        best_metric(resolve({"task": "mrpc", "metric_for_best_model": "pearson"}), ("f1",), ("validation",))


def test_an_unknown_metric_is_one_line(tmp_path, tiny_model, real_glue):
    result = glue("train", "mrpc", "--model", tiny_model, "--output-dir", tmp_path / "run", *FAST,
                  "--metric-for-best-model", "bleu")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "bleu" in lines[0] and "f1" in lines[0]
    assert not (tmp_path / "run").exists()


def test_early_stopping_after_patience_evaluations_without_improvement(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    knobs = ("--epochs", "4", "--eval-steps", "1", "--early-stopping-patience", "2", "--metric-for-best-model",
             "accuracy")
    summary = train(run, tiny_model, *knobs)
    seen = [value for _, value, _ in evals(run, "accuracy")]
    # Where patience 2 stops: the second evaluation in a row that does not beat the best so far.
    best, bad, stop = None, 0, len(seen)
    for i, value in enumerate(seen):
        if best is None or value > best:
            best, bad = value, 0
        else:
            bad += 1
            if bad == 2:
                stop = i + 1
                break
    assert stop < 12, seen  # the tiny model plateaus well before 4 epochs
    assert summary["stopped_early"] and summary["train"]["steps"] == stop == len(seen)
    # The stop is checkpointed: resuming says the run is finished and leaves metrics.json alone.
    assert of_kind(run, "checkpoint")[-1]["step"] == stop
    before = (run / "metrics.json").read_text()
    resumed = glue(*run_args(run, tiny_model, *knobs, "--resume"))
    assert resumed.exit_code == 2 and "is finished" in resumed.stderr
    assert (run / "metrics.json").read_text() == before
    # More patience is a safe change: the run goes on from where it stopped.
    more = ok(*run_args(run, tiny_model, "--resume", "--early-stopping-patience", "100", "--json", "-q")).json()
    assert more["train"]["steps"] == 12 and not more["stopped_early"]


def test_do_predict_uses_the_best_model(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    summary = train(run, tiny_model, "--epochs", "2", "--eval-steps", "1", "--metric-for-best-model", "accuracy",
                    "--learning-rate", "3e-3", "--do-predict")
    assert summary["best"]["step"] != 6, "the test needs a best model before the last step"
    written = (run / "predictions" / "MRPC.tsv").read_text()
    ok("predict", "mrpc", "--model", run, "--output-dir", tmp_path / "again", "-q")
    assert (tmp_path / "again" / "MRPC.tsv").read_text() == written
    assert summary["predictions"]
