"""The real MiniLM on 512 real rows of WNLI and STS-B: official metric names, leaderboard files (minutes)."""

import pytest

from helpers import ok
from test_predict import check_leaderboard_file

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("task, metrics, name, rows", [
    ("wnli", {"accuracy"}, "WNLI.tsv", 146),
    ("stsb", {"pearson", "spearmanr", "combined_score"}, "STS-B.tsv", 1379),
])
def test_minilm_trains_predicts_and_reports_the_official_metrics(tmp_path, real_glue, task, metrics, name, rows):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    summary = ok("train", task, "--backend", "torch", "--max-train-samples", "512", "--epochs", "1",
                 "--output-dir", run, "--do-predict", "--json", "-q").json()
    dev = summary["eval"]["validation"]
    assert set(dev) == metrics
    if task == "stsb":
        # MiniLM was trained for sentence similarity: even one short epoch correlates well.
        assert dev["pearson"] > 0.5, dev
    assert check_leaderboard_file(run / "predictions" / name, real_glue) == rows
