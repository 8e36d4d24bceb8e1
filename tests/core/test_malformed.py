"""Property-based: readers fed malformed rows fail with ``file:line`` of the first bad row, and
arbitrary bytes never raise anything but a DataError."""

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glue_cli.data.custom import Files, load, read_rows
from glue_cli.data.glue_folder import read_glue_split
from glue_cli.errors import DataError
from glue_plugins.glue_tasks import TASKS

RTE = next(t for t in TASKS if t.name == "rte")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# GLUE text: anything but the separators, quotes included (they are data).
glue_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r"), max_size=30)
# CSV text may hold commas, quotes and newlines; a lone \r has no agreed line number, so none.
csv_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=30)
labels = st.sampled_from(["entailment", "not_entailment"])
rows = st.lists(st.tuples(glue_text, glue_text, labels), min_size=1, max_size=12)


def folder_with(text: str) -> Path:
    folder = Path(tempfile.mkdtemp())
    (folder / "dev.tsv").write_text(text, encoding="utf-8", newline="")
    return folder


@SETTINGS
@given(rows)
def test_glue_rows_read_back_exactly_quotes_and_all(good):
    body = "".join(f"{i}\t{a}\t{b}\t{label}\n" for i, (a, b, label) in enumerate(good))
    split = read_glue_split(RTE, folder_with("index\tsentence1\tsentence2\tlabel\n" + body), "validation")
    assert split.texts == [(a, b) for a, b, _ in good]
    assert list(split.labels) == [RTE.labels.index(label) for *_, label in good]


@SETTINGS
@given(rows, st.data(), st.sampled_from(["extra field", "missing field", "unknown label"]))
def test_a_bad_glue_row_is_named_by_line(good, data, kind):
    at = data.draw(st.integers(0, len(good) - 1))
    lines = [f"{i}\t{a}\t{b}\t{label}" for i, (a, b, label) in enumerate(good)]
    a, b, label = good[at]
    lines[at] = {
        "extra field": f"{at}\t{a}\t{b}\t{label}\tmore",
        "missing field": f"{at}\t{a}\t{label}",
        "unknown label": f"{at}\t{a}\t{b}\tmaybe",
    }[kind]
    folder = folder_with("index\tsentence1\tsentence2\tlabel\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        read_glue_split(RTE, folder, "validation")
    assert str(info.value).startswith(f"{folder / 'dev.tsv'}:{at + 2}: ")


def write_csv(records: list[list[str]]) -> tuple[Path, list[int]]:
    """The file and the line each record starts on."""
    buffer, starts = io.StringIO(newline=""), []
    writer = csv.writer(buffer, lineterminator="\n")
    for record in records:
        starts.append(buffer.getvalue().count("\n") + 1)
        writer.writerow(record)
    path = Path(tempfile.mkdtemp()) / "data.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return path, starts


csv_rows = st.lists(st.tuples(csv_text, st.sampled_from(["yes", "no"])), min_size=2, max_size=10)


@SETTINGS
@given(csv_rows)
def test_csv_rows_read_back_exactly(good):
    path, _ = write_csv([["text", "label"], *map(list, good)])
    task, splits = load("c", Files(train=str(path), text_fields=("text",), labels=("no", "yes")), ("train",))
    assert splits["train"].texts == [(text,) for text, _ in good]


@SETTINGS
@given(csv_rows, st.data(), st.sampled_from(["extra field", "missing field", "unknown label", "empty label"]))
def test_a_bad_csv_row_is_named_by_line(good, data, kind):
    at = data.draw(st.integers(0, len(good) - 1))
    records = [list(r) for r in good]
    text, label = good[at]
    records[at] = {"extra field": [text, label, "x"], "missing field": [text], "unknown label": [text, "maybe"],
                   "empty label": [text, ""]}[kind]
    path, starts = write_csv([["text", "label"], *records])
    with pytest.raises(DataError) as info:
        load("c", Files(train=str(path), text_fields=("text",), labels=("no", "yes")), ("train",))
    assert str(info.value).startswith(f"{path}:{starts[at + 1]}: ")


json_value = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5))


@SETTINGS
@given(st.lists(st.tuples(csv_text, st.sampled_from(["a", "b"])), min_size=2, max_size=8), st.data(),
       st.sampled_from(["not an object", "broken", "null text", "number label", "no label"]))
def test_a_bad_jsonl_row_is_named_by_line(good, data, kind):
    at = data.draw(st.integers(0, len(good) - 1))
    lines = [json.dumps({"text": t, "label": label}) for t, label in good]
    lines[at] = {
        "not an object": json.dumps([good[at][0]]),
        "broken": lines[at][:-1],
        "null text": json.dumps({"text": None, "label": "a"}),
        "number label": json.dumps({"text": "x", "label": 2.5}),
        "no label": json.dumps({"text": "x"}),
    }[kind]
    if kind == "number label" and at == 0:
        lines[1] = json.dumps({"text": "y", "label": "a"})  # the first row sets the column's type
        at = 1
    path = Path(tempfile.mkdtemp()) / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load("c", Files(train=str(path), text_fields=("text",)), ("train",))
    assert str(info.value).startswith(f"{path}:{at + 1}: ")


@SETTINGS
@given(st.binary(max_size=200), st.sampled_from([".csv", ".tsv", ".json", ".jsonl"]))
def test_arbitrary_bytes_never_raise_anything_but_a_data_error(raw, suffix):
    path = Path(tempfile.mkdtemp()) / f"data{suffix}"
    path.write_bytes(raw)
    try:
        read_rows(path)
        load("c", Files(train=str(path), text_fields=("text",)), ("train",))
    except DataError as exc:
        assert str(path) in str(exc)
    folder = folder_with("")
    (folder / "dev.tsv").write_bytes(raw)
    try:
        read_glue_split(RTE, folder, "validation")
    except DataError as exc:
        assert str(folder / "dev.tsv") in str(exc)
