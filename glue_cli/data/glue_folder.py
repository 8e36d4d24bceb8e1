"""Readers: a task's splits from a GLUE-download folder, as plain Python and numpy."""

from __future__ import annotations

import csv
import io
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glue_cli.data.tasks import GlueLayout, Task
from glue_cli.errors import DataError

GET_GLUE_HINT = (
    "Set GLUE_DIR=/path/to/glue_data (the GLUE download's layout: glue data fetch TASK writes it), "
    "or pass --data-dir /path/to/glue_data/<TASK>."
)


# Layout files read as JSON records (a list of objects, or one object per line), as --train-file reads them.
RECORD_SUFFIXES = (".json", ".jsonl", ".ndjson")


@dataclass
class Split:
    """One split of a task: texts per example, label ids (or floats), and example ids."""

    name: str
    texts: list[tuple[str, ...]]
    labels: np.ndarray | None
    ids: list[str]
    path: Path

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, n: int | None) -> Split:
        """The first ``n`` examples (all of them when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        labels = None if self.labels is None else self.labels[:n]
        return Split(self.name, self.texts[:n], labels, self.ids[:n], self.path)


def glue_folder(task: Task, data_dir: Path | None) -> Path | None:
    """The task's folder: ``--data-dir``, else the task's own ``data_dir``, else ``$GLUE_DIR/<TASK>``;
    None when none is set (the hub then)."""
    if data_dir is not None:
        path = Path(data_dir)
    elif task.data_dir is not None:
        path = Path(task.data_dir)
    else:
        glue_dir = os.environ.get("GLUE_DIR")
        if not glue_dir:
            return None
        if task.glue is None:
            raise DataError(f"Task {task.name} has no GLUE-folder layout.", "Pass --data-dir.")
        path = Path(glue_dir) / task.glue.folder
    if not path.is_dir():
        own = data_dir is None and task.data_dir is not None
        hint = f"Put the {task.name} task's files there, or pass --data-dir." if own else GET_GLUE_HINT
        raise DataError(f"Data folder {path} does not exist.", hint)
    return path


def has_glue_split(task: Task, folder: Path, split: str) -> bool:
    return task.glue is not None and split in task.glue.files and (folder / task.glue.files[split]).is_file()


def lines_of(text: str) -> list[str]:
    """Split on newlines only: ``str.splitlines`` would also cut at form feeds and U+2028 in text.

    A file with bare CR line endings (classic Mac) and no LF at all is split at its CRs."""
    lines = text.split("\n") if "\n" in text or "\r" not in text else text.split("\r")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def tsv_rows(lines: list[str]) -> list[list[str]]:
    """Tab-separated rows with quoting off: a field is what lies between tabs, quotes and all, of any
    length (csv's reader caps a field at 131,072 characters); a blank line is an empty row."""
    return [line.split("\t") if line else [] for line in lines]


@contextmanager
def long_fields() -> Iterator[None]:
    """Let csv read fields of any length (its default cap is 131,072 characters), then put the cap back."""
    previous = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def finite_label(value: str | float, where: str) -> float:
    """A regression label: a finite number, in every format (NaN or inf would train to NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{where}: label {value!r} is not a number.", "") from None
    if not math.isfinite(number):
        raise DataError(f"{where}: label {value!r} is not a finite number.", "Fix or remove that row.")
    return number


def decode(path: Path) -> str:
    """A file's text; a byte-order mark is dropped, bytes that are not UTF-8 name their line."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")  # MRPC's files start with a byte-order mark
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not UTF-8 text ({exc.reason}).", "Re-save the file as UTF-8."
        ) from None


def _column(header: list[str], name: str, path: Path) -> int:
    if name not in header:
        raise DataError(
            f"{path}:1: no column {name!r} (columns: {', '.join(header)}).",
            "Check the file is the task's GLUE file.",
        )
    return header.index(name)


def _parse_label(task: Task, value: str, where: str) -> float | int:
    if task.labels is None:
        return finite_label(value, where)
    if value not in task.labels:
        raise DataError(
            f"{where}: unknown label {value!r} for {task.name}.",
            f"Expected one of: {', '.join(task.labels)}.",
        )
    return task.labels.index(value)


def numbered_rows(path: Path) -> list[tuple[int, list[str]]]:
    """A layout file's rows, each with the line it starts on; blank lines of a CSV are skipped."""
    text = decode(path)
    if path.suffix.lower() != ".csv":
        # GLUE text holds quote characters: they are data, never quoting.
        return list(enumerate(tsv_rows(lines_of(text)), start=1))
    # A plugin's own CSV: quoted fields may hold commas, quotes and newlines.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: list[tuple[int, list[str]]] = []
    line = 1
    try:
        with long_fields():
            for row in reader:
                if row:
                    out.append((line, row))
                line = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: {exc}.", "Check the quoting of that row.") from None
    return out


def read_glue_split(task: Task, folder: Path, split: str) -> Split:
    """Read ``split`` of ``task`` from a GLUE-download folder (tab-separated, quoting off)."""
    layout: GlueLayout | None = task.glue
    if layout is None or split not in layout.files:
        raise DataError(f"Task {task.name} has no {split} file in the GLUE layout.", "")
    path = Path(os.path.normpath(folder / layout.files[split]))
    if not path.is_file():
        raise DataError(f"Missing data file {path}.", GET_GLUE_HINT)
    if path.suffix.lower() in RECORD_SUFFIXES:
        return read_record_split(task, layout, path, split)
    numbered = numbered_rows(path)
    rows = [row for _, row in numbered]
    labelled = split not in task.unlabelled_splits
    first = 0
    if labelled and layout.columns is not None:
        header = list(layout.columns)
    else:
        if not rows:
            raise DataError(f"{path}: the file is empty.", GET_GLUE_HINT)
        header, first = rows[0], 1
    text_idx = [_column(header, c, path) for c in layout.text_columns]
    label_idx = _column(header, layout.label_column, path) if labelled else None
    index_idx = None if labelled else _column(header, layout.index_column, path)
    texts: list[tuple[str, ...]] = []
    labels: list[float | int] = []
    ids: list[str] = []
    separated = "comma" if path.suffix.lower() == ".csv" else "tab"
    for lineno, row in numbered[first:]:
        where = f"{path}:{lineno}"
        if len(row) != len(header):
            raise DataError(
                f"{where}: expected {len(header)} {separated}-separated fields, found {len(row)}.",
                "Is the file truncated or edited?",
            )
        texts.append(tuple(row[i] for i in text_idx))
        if label_idx is not None:
            labels.append(_parse_label(task, row[label_idx], where))
        ids.append(row[index_idx] if index_idx is not None else str(len(ids)))
    if not texts:
        raise DataError(f"{path}: the {split} split is empty.", GET_GLUE_HINT)
    label_array = None
    if labelled:
        label_array = np.asarray(labels, dtype=np.float32 if task.is_regression else np.int64)
    return Split(split, texts, label_array, ids, path)


def read_record_split(task: Task, layout: GlueLayout, path: Path, split: str) -> Split:
    """A layout file of JSON objects (``.jsonl``/``.json``): fields named by the layout's columns.

    Labels may be JSON numbers (``1`` is the class ``"1"``); a test file without the index field
    is numbered by position.
    """
    from glue_cli.data.custom import _label_name, _label_value, _text, read_rows

    rows = read_rows(path)
    labelled = split not in task.unlabelled_splits
    texts: list[tuple[str, ...]] = []
    labels: list[float | int] = []
    ids: list[str] = []
    for position, row in enumerate(rows):
        texts.append(tuple(_text(path, row, column) for column in layout.text_columns))
        ids.append(str(row.values.get(layout.index_column, position)))
        if labelled:
            value = _label_value(path, row, layout.label_column)
            name = str(value) if task.is_regression else _label_name(value)
            labels.append(_parse_label(task, name, f"{path}:{row.line}"))
    label_array = None
    if labelled:
        label_array = np.asarray(labels, dtype=np.float32 if task.is_regression else np.int64)
    return Split(split, texts, label_array, ids, path)
