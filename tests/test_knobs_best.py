"""--metric-for-best-model, --greater-is-better and --early-stopping-patience: model/ holds the best evaluation."""

import pytest
from knobs_helpers import FAST, history, of_kind, ok, train

from glue_cli.config import resolve
from glue_cli.errors import ConfigError
from glue_cli.trainer import Best, best_metric
from helpers import glue

pytest.importorskip("torch")


def evals(run, metric="f1"):
    """(step, value) of every evaluation, the step from the step event just before it."""
    out, step = [], 0
    for h in history(run):
        if h["event"] == "step":
            step = h["step"]
        elif h["event"] == "eval":
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
                               "value": best_value, "step": best_step, "epoch": 1 + (best_step - 1) // 3}
    assert summary["eval"]["validation"] == best_metrics
    assert summary["last_eval"]["step"] == 6 and summary["last_eval"]["metrics"]["validation"] == seen[-1][2]
    # model/ is that model: glue eval reproduces the best evaluation, not the last one.
    again = ok("eval", "mrpc", "--model", run, "--backend", "torch", "--max-eval-samples", "40", "--json").json()
    assert again["validation"] == pytest.approx(best_metrics, abs=1e-6)


def test_default_metric_is_the_tasks_first_and_loss_is_lower_is_better():
    config = resolve({"task": "mrpc"})
    assert best_metric(config, ("f1", "accuracy"), ("validation",)).metric == "f1"
    mnli = best_metric(config, ("accuracy",), ("validation_matched", "validation_mismatched"))
    assert (mnli.split, mnli.metric, mnli.greater_is_better) == ("validation_matched", "accuracy", True)
    named = best_metric(resolve({"task": "mrpc", "metric_for_best_model": "validation/combined_score"}),
                        ("f1", "accuracy"), ("validation",))
    assert named.metric == "combined_score"
    lower = Best("eval_loss", "validation", greater_is_better=False)
    assert lower.improves(1.0)
    lower.value = 1.0
    assert lower.improves(0.5) and not lower.improves(1.0) and not lower.improves(2.0)
    nan = Best("pearson", "validation", greater_is_better=True)
    assert nan.improves(float("nan"))
    nan.value = float("nan")
    assert not nan.improves(float("nan")) and nan.improves(-0.5)
    nan.value = -0.5
    assert not nan.improves(float("nan"))
    flipped = best_metric(resolve({"task": "mrpc", "greater_is_better": False}), ("f1",), ("validation",))
    assert not flipped.greater_is_better
    with pytest.raises(ConfigError, match="not a metric of this task"):
        best_metric(resolve({"task": "mrpc", "metric_for_best_model": "pearson"}), ("f1",), ("validation",))


def test_an_unknown_metric_is_one_line(tmp_path, tiny_model, real_glue):
    result = glue("train", "mrpc", "--model", tiny_model, "--output-dir", tmp_path / "run", *FAST,
                  "--metric-for-best-model", "bleu")
    assert result.exit_code == 2 and "bleu" in result.stderr and "f1" in result.stderr


def test_early_stopping_after_patience_evaluations_without_improvement(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    summary = train(run, tiny_model, "--epochs", "4", "--eval-steps", "1", "--early-stopping-patience", "2",
                    "--metric-for-best-model", "accuracy")
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
    resumed = ok("train", "mrpc", "--backend", "torch", "--model", tiny_model, "--output-dir", run, *FAST,
                 "--epochs", "4", "--eval-steps", "1", "--early-stopping-patience", "2",
                 "--metric-for-best-model", "accuracy", "--resume")
    assert "finished" in resumed.stderr and (run / "metrics.json").read_text() == before


def test_do_predict_uses_the_best_model(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    summary = train(run, tiny_model, "--epochs", "2", "--eval-steps", "1", "--metric-for-best-model", "accuracy",
                    "--learning-rate", "3e-3", "--do-predict")
    written = (run / "predictions" / "MRPC.tsv").read_text()
    again = ok("predict", "mrpc", "--model", run, "--backend", "torch", "--output-dir", tmp_path / "again", "-q")
    assert again.exit_code == 0 and (tmp_path / "again" / "MRPC.tsv").read_text() == written
    assert summary["predictions"]
