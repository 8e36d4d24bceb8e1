"""The GLUE submission format, checked independently of glue-cli (test_predict, the real-task tests)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

# leaderboard file: (labels, or None for scores; the test file it predicts; its id column)
FORMATS = {
    "CoLA.tsv": (("0", "1"), "CoLA/test.tsv", "index"),
    "SST-2.tsv": (("0", "1"), "SST-2/test.tsv", "index"),
    "MRPC.tsv": (("0", "1"), "MRPC/test.tsv", "index"),
    "STS-B.tsv": (None, "STS-B/test.tsv", "index"),
    "QQP.tsv": (("0", "1"), "QQP/test.tsv", "id"),
    "MNLI-m.tsv": (("entailment", "neutral", "contradiction"), "MNLI/test_matched.tsv", "index"),
    "MNLI-mm.tsv": (("entailment", "neutral", "contradiction"), "MNLI/test_mismatched.tsv", "index"),
    "AX.tsv": (("entailment", "neutral", "contradiction"), "diagnostic/diagnostic.tsv", "index"),
    "QNLI.tsv": (("entailment", "not_entailment"), "QNLI/test.tsv", "index"),
    "RTE.tsv": (("entailment", "not_entailment"), "RTE/test.tsv", "index"),
    "WNLI.tsv": (("0", "1"), "WNLI/test.tsv", "index"),
}


def expected_ids(glue_root: Path, relative: str, column: str) -> list[str]:
    with open(glue_root / relative, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [row[rows[0].index(column)] for row in rows[1:]]


def check_leaderboard_file(path: Path, glue_root: Path) -> int:
    """The GLUE submission format, checked without glue-cli: header, one row per test example in
    the test file's order, a label of the task (or a finite float for STS-B). Returns the row count."""
    labels, test_file, id_column = FORMATS[path.name]
    text = path.read_bytes().decode("utf-8")
    assert text.endswith("\n") and "\r" not in text
    lines = text[:-1].split("\n")
    assert lines[0] == "index\tprediction"
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(row) == 2 for row in rows)
    assert [row[0] for row in rows] == expected_ids(glue_root, test_file, id_column)
    for _, prediction in rows:
        if labels is None:
            assert math.isfinite(float(prediction))
        else:
            assert prediction in labels
    return len(rows)
