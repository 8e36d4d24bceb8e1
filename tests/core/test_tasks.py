"""The nine GLUE tasks: definitions, names, every GLUE-folder layout, and the hub's field mapping."""

from pathlib import Path

import numpy as np
import pytest

import glue_fixtures
from glue_cli.data.glue_folder import read_glue_split
from glue_cli.data.sources import read_task_splits
from glue_cli.errors import DataError
from glue_cli.plugins.manager import get_tasks
from helpers import glue, reset_plugins

# name: (labels, metrics, text fields, GLUE folder, leaderboard files)
EXPECTED = {
    "cola": (("0", "1"), ("matthews_correlation",), ("sentence",), "CoLA", ["CoLA.tsv"]),
    "sst2": (("0", "1"), ("accuracy",), ("sentence",), "SST-2", ["SST-2.tsv"]),
    "mrpc": (("0", "1"), ("f1", "accuracy"), ("sentence1", "sentence2"), "MRPC", ["MRPC.tsv"]),
    "stsb": (None, ("pearson", "spearmanr"), ("sentence1", "sentence2"), "STS-B", ["STS-B.tsv"]),
    "qqp": (("0", "1"), ("accuracy", "f1"), ("question1", "question2"), "QQP", ["QQP.tsv"]),
    "mnli": (("entailment", "neutral", "contradiction"), ("accuracy",), ("premise", "hypothesis"), "MNLI",
             ["MNLI-m.tsv", "MNLI-mm.tsv", "AX.tsv"]),
    "qnli": (("entailment", "not_entailment"), ("accuracy",), ("question", "sentence"), "QNLI", ["QNLI.tsv"]),
    "rte": (("entailment", "not_entailment"), ("accuracy",), ("sentence1", "sentence2"), "RTE", ["RTE.tsv"]),
    "wnli": (("0", "1"), ("accuracy",), ("sentence1", "sentence2"), "WNLI", ["WNLI.tsv"]),
}


def tasks():
    reset_plugins()
    return get_tasks()


def test_the_nine_tasks_follow_the_glue_and_hub_conventions():
    registry = tasks()
    assert set(EXPECTED) <= set(registry.names())
    for name, (labels, metrics, fields, folder, files) in EXPECTED.items():
        task = registry.get(name)
        assert task.labels == labels and task.metrics == metrics and task.text_fields == fields, name
        assert task.glue.folder == folder and task.hub_id == "nyu-mll/glue"
        assert [task.submission_file(s) for s in task.unlabelled_splits] == files
    assert registry.get("stsb").num_labels == 1 and registry.get("stsb").is_regression
    assert registry.get("mnli").eval_splits == ("validation_matched", "validation_mismatched")
    assert registry.owner("mnli") == "glue-tasks"


@pytest.mark.parametrize("spelling, name", [
    ("SST-2", "sst2"), ("sst2", "sst2"), ("sst", "sst2"), ("STS-B", "stsb"), ("sts_b", "stsb"),
    ("mnli-mm", "mnli"), ("MNLI-m", "mnli"), ("CoLA", "cola"), ("QNLI", "qnli"), ("wnli", "wnli"),
])
def test_names_are_case_insensitive_and_take_the_usual_spellings(spelling, name):
    assert tasks().get(spelling).name == name


def test_qqp_mnli_rte_and_ax_in_the_download_layout(tmp_path):
    root = glue_fixtures.glue_folder(tmp_path / "glue_data")
    registry = tasks()
    qqp = read_task_splits(registry.get("qqp"), str(root / "QQP"), ("train", "eval", "test"))
    assert len(qqp["train"]) == 24 and qqp["train"].texts[0] == (glue_fixtures.sentence(0) + "?",
                                                                 glue_fixtures.sentence(0, 1) + "?")
    assert list(qqp["train"].labels[:4]) == [0, 1, 0, 1]
    assert qqp["test"].labels is None and qqp["test"].ids[:2] == ["0", "1"]

    mnli = read_task_splits(registry.get("mnli"), str(root / "MNLI"), ("train", "eval", "test"))
    assert set(mnli) == {"train", "validation_matched", "validation_mismatched", "test_matched",
                         "test_mismatched", "diagnostic"}
    assert list(mnli["validation_mismatched"].labels[:3]) == [0, 1, 2]  # gold_label, the last column
    assert mnli["validation_matched"].texts[1] == (glue_fixtures.sentence(1, 2), glue_fixtures.sentence(1, 3))
    assert len(mnli["diagnostic"]) == 27 and mnli["diagnostic"].labels is None

    rte = read_task_splits(registry.get("rte"), str(root / "RTE"), ("eval",))
    assert list(rte["validation"].labels[:2]) == [0, 1]


def test_quote_characters_are_text(tmp_path):
    root = glue_fixtures.glue_folder(tmp_path)
    dev = read_glue_split(tasks().get("rte"), root / "RTE", "validation")
    assert any('"quoted' in text for pair in dev.texts for text in pair)
    assert len(dev) == 24  # an unbalanced quote swallowed no line


def test_the_diagnostic_set_is_optional(tmp_path):
    folder = glue_fixtures.mnli(tmp_path, diagnostic=False)
    splits = read_task_splits(tasks().get("mnli"), str(folder), ("test",))
    assert set(splits) == {"test_matched", "test_mismatched"}


def test_mnli_dev_row_with_a_missing_column_names_the_line(tmp_path):
    folder = glue_fixtures.mnli(tmp_path)
    path = folder / "dev_matched.tsv"
    lines = path.read_text().splitlines()
    lines[5] = lines[5].rsplit("\t", 1)[0]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{path}:6: expected 16 tab-separated fields, found 15"):
        read_glue_split(tasks().get("mnli"), folder, "validation_matched")


def test_form_feed_and_line_separator_inside_text_are_not_line_breaks(tmp_path):
    folder = tmp_path / "RTE"
    glue_fixtures.write_tsv(folder / "dev.tsv", ("index", "sentence1", "sentence2", "label"),
                            [("0", "a\x0cb", "c\u2028d", "entailment"), ("1", "e", "f", "not_entailment")])
    dev = read_glue_split(tasks().get("rte"), folder, "validation")
    assert dev.texts == [("a\x0cb", "c\u2028d"), ("e", "f")]


# -- the hub -----------------------------------------------------------------------------


def test_hub_rows_map_to_the_tasks_fields_and_labels():
    datasets = pytest.importorskip("datasets")
    from glue_cli.data.hub import split_from_rows

    registry = tasks()
    where = Path("hf://datasets/nyu-mll/glue")
    mnli = datasets.Dataset.from_dict({"premise": ["p0", "p1"], "hypothesis": ["h0", "h1"], "label": [2, 0],
                                       "idx": [7, 8]})
    split = split_from_rows(registry.get("mnli"), "validation_matched", mnli, where)
    assert split.texts == [("p0", "h0"), ("p1", "h1")] and list(split.labels) == [2, 0]
    assert split.ids == ["7", "8"]
    test = datasets.Dataset.from_dict({"sentence": ["s"], "label": [-1], "idx": [0]})
    assert split_from_rows(registry.get("sst2"), "test", test, where).labels is None
    stsb = datasets.Dataset.from_dict({"sentence1": ["a"], "sentence2": ["b"], "label": [3.8], "idx": [0]})
    labels = split_from_rows(registry.get("stsb"), "validation", stsb, where).labels
    assert labels.dtype == np.float32 and labels[0] == pytest.approx(3.8)
    ax = datasets.Dataset.from_dict({"premise": ["p"], "hypothesis": ["h"], "label": [-1], "idx": [0]})
    assert split_from_rows(registry.get("mnli"), "diagnostic", ax, where).labels is None
    from glue_cli.data.hub import hub_location

    assert hub_location(registry.get("mnli"), "diagnostic") == ("nyu-mll/glue", "ax", "test")
    assert hub_location(registry.get("sst2"), "validation") == ("nyu-mll/glue", "sst2", "validation")


def test_offline_without_a_folder_is_one_line(monkeypatch, tiny_model):
    monkeypatch.delenv("GLUE_DIR", raising=False)
    result = glue("eval", "rte", "--model", tiny_model)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "hub is offline" in lines[0] and "GLUE_DIR" in lines[0] and "--data-dir" in lines[0]
