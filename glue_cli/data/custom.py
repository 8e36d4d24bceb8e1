"""Custom tasks: the user's own CSV, TSV, JSON (a list of objects) or JSON Lines files.

Labels come from the training file (sorted) or ``--labels``; a label column of numbers
that are not all integers is a regression target. Every malformed row is reported as
``file:line: what is wrong``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glue_cli.data.glue_folder import Split, decode, finite_label, lines_of, long_fields, tsv_rows
from glue_cli.data.tasks import Task
from glue_cli.errors import DataError

DEFAULT_NAME = "custom"
DEFAULT_LABEL_FIELD = "label"
ID_FIELDS = ("idx", "index", "id")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
INT = re.compile(r"[+-]?\d+")
CLASSIFICATION_METRICS = ("accuracy", "macro_f1")
REGRESSION_METRICS = ("pearson", "spearmanr")


@dataclass
class Row:
    line: int
    values: dict[str, Any]


@dataclass(frozen=True)
class Files:
    """What the user passed about their files (``--train-file`` ... ``--labels``)."""

    train: str | None = None
    validation: str | None = None
    test: str | None = None
    text_fields: tuple[str, ...] | None = None
    label_field: str | None = None
    labels: tuple[str, ...] | None = None

    @property
    def given(self) -> bool:
        return any((self.train, self.validation, self.test))

    def path(self, role: str) -> str | None:
        return {"train": self.train, "validation": self.validation, "test": self.test}[role]


def custom_task(name: str, text_fields: tuple[str, ...], labels: tuple[str, ...] | None) -> Task:
    if not 1 <= len(text_fields) <= 2:
        raise DataError(
            f"--text-fields names {len(text_fields)} columns; a task has one or two text fields.",
            "Pass one or two comma-separated column names, e.g. --text-fields question,answer.",
        )
    return Task(
        name=name, text_fields=text_fields, labels=labels,
        metrics=REGRESSION_METRICS if labels is None else CLASSIFICATION_METRICS,
        description="Custom task from your own files.",
    )


# -- reading rows ------------------------------------------------------------------------


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path}: unknown file type {path.suffix!r}.",
            "Use .csv, .tsv, .json (a list of objects) or .jsonl (one object per line).",
        )
    return fmt


def read_rows(path: Path) -> list[Row]:
    """The file's records, each with the line it starts on."""
    if not path.is_file():
        raise DataError(f"Data file {path} does not exist.", "Check the --*-file paths.")
    fmt = file_format(path)
    text = decode(path)
    rows = {"csv": _table, "tsv": _table, "json": _json_list, "jsonl": _json_lines}[fmt](path, text, fmt)
    if not rows:
        raise DataError(f"{path}: the file holds no examples.", "")
    return rows


def _table(path: Path, text: str, fmt: str) -> list[Row]:
    # A CSV is the user's: quoted fields (with commas, newlines, quotes) are common. A TSV
    # follows the GLUE convention: tabs never occur in a field and quotes are text.
    records: list[tuple[int, list[str]]] = []
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        line = 1
        try:
            with long_fields():
                for record in reader:
                    records.append((line, record))
                    line = reader.line_num + 1
        except csv.Error as exc:
            raise DataError(f"{path}:{reader.line_num}: {exc}.", "Check the quoting of that row.") from None
    else:
        records = list(enumerate(tsv_rows(lines_of(text)), start=1))
    if not records:
        return []
    (_, header), body = records[0], records[1:]
    if len(set(header)) != len(header):
        raise DataError(f"{path}:1: repeated column names in the header ({', '.join(header)}).", "")
    rows = []
    for start, record in body:
        if record == []:  # a blank line
            continue
        if len(record) != len(header):
            sep = "comma" if fmt == "csv" else "tab"
            raise DataError(
                f"{path}:{start}: expected {len(header)} {sep}-separated fields, found {len(record)}.",
                "Quote fields that hold the separator." if fmt == "csv" else "Is the file truncated or edited?",
            )
        rows.append(Row(start, dict(zip(header, record, strict=True))))
    return rows


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _json_list(path: Path, text: str, fmt: str) -> list[Row]:
    decoder = json.JSONDecoder()
    pos = _skip_space(text, 0)
    if not text.startswith("[", pos):
        raise DataError(f"{path}:{_line_at(text, pos)}: a .json file must hold a list of objects.",
                        "Use .jsonl for one object per line.")
    pos = _skip_space(text, pos + 1)
    rows: list[Row] = []
    try:
        while not text.startswith("]", pos):
            value, end = decoder.raw_decode(text, pos)
            rows.append(_object(path, value, _line_at(text, pos)))
            pos = _skip_space(text, end)
            if text.startswith(",", pos):
                pos = _skip_space(text, pos + 1)
            elif not text.startswith("]", pos):
                raise json.JSONDecodeError("expected ',' or ']'", text, pos)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}).", "") from None
    if _skip_space(text, pos + 1) != len(text):
        raise DataError(f"{path}:{_line_at(text, pos + 1)}: text after the end of the list.", "")
    return rows


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _json_lines(path: Path, text: str, fmt: str) -> list[Row]:
    rows = []
    for number, line in enumerate(lines_of(text), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: invalid JSON ({exc.msg}).", "") from None
        rows.append(_object(path, value, number))
    return rows


def _object(path: Path, value: Any, line: int) -> Row:
    if not isinstance(value, dict):
        raise DataError(f"{path}:{line}: expected an object, found {type(value).__name__}.", "")
    return Row(line, value)


# -- labels ------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    """``int``, ``float`` or ``str``: what a label value looks like."""
    if isinstance(value, bool):
        return "str"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    text = str(value).strip()
    if INT.fullmatch(text):
        return "int"
    try:
        number = float(text)
    except ValueError:
        return "str"
    return "float" if np.isfinite(number) else "str"


def _label_name(value: Any) -> str:
    """A class label as a string: ``1``, ``"1"`` and ``" 1"`` are one class."""
    if isinstance(value, bool):
        return str(value).lower()
    if _kind(value) == "int":
        return str(int(str(value).strip()))
    return str(value)


def _label_value(path: Path, row: Row, field: str) -> Any:
    if field not in row.values:
        raise DataError(f"{path}:{row.line}: no label column {field!r}.",
                        "Pass --label-field with the column that holds the labels.")
    value = row.values[field]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{path}:{row.line}: the label is empty.", "")
    if isinstance(value, list | dict):
        raise DataError(f"{path}:{row.line}: the label is a {type(value).__name__}, not a value.", "")
    if _non_finite(value):  # NaN/inf: refused alike from CSV, TSV, JSON (bare NaN) and JSON Lines
        finite_label(value, f"{path}:{row.line}")
    return value


def _non_finite(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def infer_labels(path: Path, rows: list[Row], field: str) -> tuple[str, ...] | None:
    """Sorted class names of the training file, or None when the column is a regression target."""
    values = [_label_value(path, row, field) for row in rows]
    kinds = [_kind(v) for v in values]
    numeric = [k != "str" for k in kinds]
    if any(numeric) and not all(numeric):
        first = numeric[0]
        bad = next(i for i, n in enumerate(numeric) if n != first)
        raise DataError(
            f"{path}:{rows[bad].line}: label {values[bad]!r} is {'a number' if numeric[bad] else 'text'} but "
            f"the label on line {rows[0].line} is {'a number' if first else 'text'}: the label column mixes types.",
            "Use only class names, or only numbers (for regression).",
        )
    if "float" in kinds:
        return None
    names = {_label_name(v) for v in values}
    if len(names) < 2:
        raise DataError(f"{path}: the label column {field!r} holds a single class ({', '.join(names)}).",
                        "A classifier needs at least two classes.")
    if all(numeric):
        return tuple(sorted(names, key=int))
    return tuple(sorted(names))


# -- splits ------------------------------------------------------------------------------


def read_split(
    task: Task, path: Path, split: str, label_field: str, labelled: bool
) -> Split:
    rows = read_rows(path)
    return split_from_rows(task, path, split, rows, label_field, labelled)


def split_from_rows(
    task: Task, path: Path, split: str, rows: list[Row], label_field: str, labelled: bool
) -> Split:
    texts: list[tuple[str, ...]] = []
    labels: list[float | int] = []
    ids: list[str] = []
    id_field = next((f for f in ID_FIELDS if f in rows[0].values), None)
    for position, row in enumerate(rows):
        texts.append(tuple(_text(path, row, f) for f in task.text_fields))
        ids.append(str(row.values.get(id_field, position)) if id_field else str(position))
        if not labelled:
            continue
        value = _label_value(path, row, label_field)
        if task.labels is None:
            if _kind(value) == "str":
                raise DataError(f"{path}:{row.line}: label {value!r} is not a number (this is a regression task).",
                                "")
            labels.append(finite_label(value, f"{path}:{row.line}"))
        else:
            name = _label_name(value)
            if name not in task.labels:
                raise DataError(f"{path}:{row.line}: unknown label {value!r}.",
                                f"Expected one of: {', '.join(task.labels)}.")
            labels.append(task.labels.index(name))
    array = None
    if labelled:
        array = np.asarray(labels, dtype=np.float32 if task.is_regression else np.int64)
    return Split(split, texts, array, ids, path)


def _text(path: Path, row: Row, field: str) -> str:
    if field not in row.values:
        raise DataError(f"{path}:{row.line}: no text column {field!r} (columns: {', '.join(map(str, row.values))}).",
                        "Pass --text-fields with the columns that hold the text.")
    value = row.values[field]
    if value is None:
        raise DataError(f"{path}:{row.line}: the text {field!r} is missing (null).", "")
    if isinstance(value, list | dict):
        raise DataError(f"{path}:{row.line}: the text {field!r} is a {type(value).__name__}, not a string.", "")
    return str(value)


def load(
    name: str, files: Files, roles: tuple[str, ...], known: Task | None = None
) -> tuple[Task, dict[str, Split]]:
    """Read the custom files for ``roles`` (train, validation, test) and build the task.

    ``known`` is the task a saved model recorded (eval/predict): its labels win over the
    files', so class ids mean what they meant in training.
    """
    text_fields = files.text_fields or (known.text_fields if known else None)
    if not text_fields:
        raise DataError("Custom files need --text-fields.", "Pass e.g. --text-fields question,answer.")
    label_field = files.label_field or DEFAULT_LABEL_FIELD
    for role in roles:
        if files.path(role) is None:
            raise DataError(f"No --{role}-file given for the custom task {name}.",
                            f"Pass --{role}-file with a .csv, .tsv, .json or .jsonl file.")
    read = {role: read_rows(Path(files.path(role) or "")) for role in roles}
    for role, rows in read.items():  # a missing text column is reported before anything about labels
        for row in rows:
            for field in text_fields:
                _text(Path(files.path(role) or ""), row, field)
    labels: tuple[str, ...] | None
    if files.labels:
        labels = files.labels
        if len(set(labels)) != len(labels) or len(labels) < 2:
            raise DataError(f"--labels {','.join(labels)}: give two or more distinct class names.", "")
    elif known is not None:
        labels = known.labels
    elif "train" in read:
        labels = infer_labels(Path(files.train or ""), read["train"], label_field)
    else:
        raise DataError("No labels for the custom task.", "Pass --labels, or --model with a trained run.")
    task = custom_task(name, tuple(text_fields), labels)
    splits = {
        role: split_from_rows(task, Path(files.path(role) or ""), role, rows, label_field,
                              labelled=role != "test")
        for role, rows in read.items()
    }
    return task, splits
