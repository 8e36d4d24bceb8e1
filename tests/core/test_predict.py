"""glue predict / --do-predict: GLUE leaderboard files, checked by an independent format check;
metrics recomputed with scikit-learn and scipy from saved predictions; the tokenization cache."""

import csv
import json
import zipfile
from pathlib import Path

import pytest
from scipy import stats
from sklearn import metrics as skm

import glue_fixtures
from helpers import glue, ok, one_line_error
from leaderboard import check_leaderboard_file

torch = pytest.importorskip("torch")

FAST = ("--max-train-samples", "32", "--max-eval-samples", "40", "--batch-size", "16",
        "--learning-rate", "1e-3", "--epochs", "1")


@pytest.mark.parametrize("task, name, rows", [
    ("mrpc", "MRPC.tsv", 1725), ("cola", "CoLA.tsv", 1063), ("sts-b", "STS-B.tsv", 1379),
    ("SST-2", "SST-2.tsv", 1821), ("wnli", "WNLI.tsv", 146), ("qnli", "QNLI.tsv", 5463),
])
def test_predict_writes_the_leaderboard_file_for_each_real_task(tmp_path, tiny_model, real_glue, task, name,
                                                                 rows):
    out = tmp_path / "out"
    written = ok("predict", task, "--model", tiny_model, "--output-dir", out, "--json", "-q").json()
    assert written == {"test": str(out / name)}
    assert check_leaderboard_file(out / name, real_glue) == rows


def test_mnli_predicts_matched_mismatched_and_ax_qqp_and_rte(tmp_path, tiny_model):
    root = glue_fixtures.glue_folder(tmp_path / "glue_data")
    out = tmp_path / "out"
    written = ok("predict", "mnli-mm", "--model", tiny_model, "--data-dir", root / "MNLI", "--output-dir", out,
                 "--json", "-q").json()
    assert set(written) == {"test_matched", "test_mismatched", "diagnostic"}
    assert check_leaderboard_file(out / "MNLI-m.tsv", root) == 24
    assert check_leaderboard_file(out / "MNLI-mm.tsv", root) == 24
    assert check_leaderboard_file(out / "AX.tsv", root) == 27
    for task, name in (("qqp", "QQP.tsv"), ("rte", "RTE.tsv")):
        ok("predict", task, "--model", tiny_model, "--data-dir", root / name[:-4], "--output-dir", out, "-q")
        assert check_leaderboard_file(out / name, root) == 24
    ok("predict", "rte", "--model", tiny_model, "--data-dir", root / "RTE", "--output-dir", out, "--zip", "-q",
       "--overwrite")
    with zipfile.ZipFile(out / "submission.zip") as z:
        assert sorted(z.namelist()) == ["AX.tsv", "MNLI-m.tsv", "MNLI-mm.tsv", "QQP.tsv", "RTE.tsv"]
        assert z.read("RTE.tsv") == (out / "RTE.tsv").read_bytes()


def test_mnli_trains_and_reports_matched_and_mismatched(tmp_path, tiny_model):
    root = glue_fixtures.glue_folder(tmp_path / "glue_data")
    summary = ok("train", "mnli", "--model", tiny_model, "--data-dir", root / "MNLI", "--output-dir",
                 tmp_path / "run", "--json", *FAST).json()
    assert set(summary["eval"]) == {"validation_matched", "validation_mismatched"}
    assert set(summary["eval"]["validation_matched"]) == {"accuracy"}


def test_train_do_predict_then_predict_refuses_to_overwrite(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    summary = ok("train", "mrpc", "--model", tiny_model, "--output-dir", run, "--do-predict", "--json",
                 *FAST).json()
    assert summary["predictions"] == {"test": str(run / "predictions" / "MRPC.tsv")}
    assert check_leaderboard_file(run / "predictions" / "MRPC.tsv", real_glue) == 1725
    before = (run / "predictions" / "MRPC.tsv").read_bytes()
    one_line_error(glue("predict", "mrpc", "--model", run), "MRPC.tsv already exists", "--overwrite")
    # the default folder is <run>/predictions, and the trained model reproduces its own file
    ok("predict", "mrpc", "--model", run, "--overwrite", "--zip", "-q")
    assert (run / "predictions" / "MRPC.tsv").read_bytes() == before
    with zipfile.ZipFile(run / "predictions" / "submission.zip") as z:
        assert z.namelist() == ["MRPC.tsv"]
    # the model folder inside the run finds the same default; the task comes from the model's record
    ok("predict", "--model", run / "model", "--overwrite", "-q")
    one_line_error(glue("predict", "mrpc", "--model", tiny_model), "not a run directory", "--output-dir")


@pytest.mark.parametrize("task", ["mrpc", "stsb", "cola"])
def test_metrics_agree_with_sklearn_and_scipy_on_saved_predictions(tmp_path, tiny_model, real_glue, task):
    run = tmp_path / "run"
    summary = ok("train", task, "--model", tiny_model, "--output-dir", run, "--json", *FAST).json()
    reported = summary["eval"]["validation"]
    with open(run / "eval_predictions" / "validation.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert len(rows) == 40
    if task == "stsb":
        p = [float(r["prediction"]) for r in rows]
        y = [float(r["label"]) for r in rows]
        expected = {"pearson": stats.pearsonr(y, p)[0], "spearmanr": stats.spearmanr(y, p)[0]}
    else:
        p = [int(r["prediction"]) for r in rows]
        y = [int(r["label"]) for r in rows]
        expected = {"mrpc": {"f1": skm.f1_score(y, p), "accuracy": skm.accuracy_score(y, p)},
                    "cola": {"matthews_correlation": skm.matthews_corrcoef(y, p)}}[task]
    if len(expected) > 1:
        expected["combined_score"] = sum(expected.values()) / len(expected)
    assert set(reported) == set(expected)
    for name, value in expected.items():
        assert reported[name] == pytest.approx(value, abs=1e-6), name


def test_second_run_on_the_same_data_reads_the_tokenization_cache(tmp_path, tiny_model, real_glue):
    cache = Path(tmp_path / "cache" / "features")  # GLUE_CACHE_DIR from conftest
    ok("train", "wnli", "--model", tiny_model, "--output-dir", tmp_path / "a", *FAST, "-q")
    files = sorted(cache.iterdir())
    assert len(files) == 2  # train and validation
    ok("train", "wnli", "--model", tiny_model, "--output-dir", tmp_path / "b", *FAST, "-q")
    assert sorted(cache.iterdir()) == files
    first, second = (json.loads((tmp_path / r / "history.jsonl").read_text().splitlines()[0]) for r in "ab")
    assert first["from_cache"] == {"train": False, "validation": False}
    assert second["from_cache"] == {"train": True, "validation": True}
    # other data is tokenized afresh
    ok("train", "wnli", "--model", tiny_model, "--output-dir", tmp_path / "c", *FAST, "-q",
       "--max-train-samples", "31")
    third = json.loads((tmp_path / "c" / "history.jsonl").read_text().splitlines()[0])
    assert third["from_cache"] == {"train": False, "validation": True}
