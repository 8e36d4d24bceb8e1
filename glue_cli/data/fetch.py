"""``glue data fetch``: a task's hub splits written as the GLUE download's files; ``glue data list``.

The files are exactly what ``$GLUE_DIR`` reads (``glue_cli/data/glue_folder.py``): each task's folder and file
names, its header (or none: CoLA), its columns in order, tabs with quoting off, MRPC's byte-order
mark, and GLUE's label strings (``0``/``1``, ``entailment``, ...; STS-B's score as a number).
Columns the hub does not carry (MRPC's sentence IDs, STS-B's genre, CoLA's source, ...) are left
empty. So a user can fetch once online and train offline, or share the folder.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glue_cli.data.glue_folder import Split
from glue_cli.data.hub import GLUE_HUB_ID, cached_configs, dataset_location, read_hub_split
from glue_cli.data.tasks import Task
from glue_cli.errors import DataError
from glue_cli.runs.atomic import atomic_file

BOM = "\ufeff"
FLATTEN = str.maketrans("\t\n\r", "   ")


@dataclass
class Fetched:
    """What one task's fetch wrote: file per split, and how many texts had tabs or newlines replaced."""

    task: str
    source: str
    files: dict[str, Path] = field(default_factory=dict)
    flattened: int = 0


FETCH_HINT = (
    f"Run it once on a machine with internet, or point GLUE_HUB_DATASET at a copy of {GLUE_HUB_ID} "
    "(a folder laid out like the hub repository)."
)


def target_path(task: Task, root: Path, split: str) -> Path:
    assert task.glue is not None
    return Path(os.path.normpath(root / task.glue.folder / task.glue.files[split]))


def fetchable(task: Task) -> None:
    if task.glue is None or task.hub_id is None or task.hub_config is None:
        raise DataError(
            f"Task {task.name} has no hub dataset and GLUE layout to fetch.",
            "glue data fetch writes the tasks that have both (see glue tasks).",
        )


def fetch(tasks: list[Task], root: Path, overwrite: bool = False) -> list[Fetched]:
    """Read every split of ``tasks`` from the hub (or the datasets cache) and write their GLUE files.

    Existing files are kept unless ``overwrite``: that is checked for every file before anything is read.
    """
    tasks = list({task.name: task for task in tasks}.values())  # mrpc MRPC: once
    for task in tasks:
        fetchable(task)
    plans = [(task, [s for s in ("train", *task.eval_splits, *task.unlabelled_splits)
                     if s in (task.glue.files if task.glue else {})]) for task in tasks]
    if not overwrite:
        existing = [p for task, splits in plans for s in splits if (p := target_path(task, root, s)).exists()]
        if existing:
            raise DataError(f"{existing[0]} exists.", "Pass --overwrite to replace it, or --to another folder.")
    out: list[Fetched] = []
    for task, splits in plans:
        done = Fetched(task.name, dataset_location(task))
        read: dict[str, Split] = {}
        for split in splits:
            try:
                read[split] = read_hub_split(task, split, FETCH_HINT)
            except DataError:
                if split not in task.optional_test_splits:
                    raise
        for split, rows in read.items():
            text, flattened = glue_file_text(task, rows)
            path = target_path(task, root, split)
            with atomic_file(path) as tmp:
                tmp.write_bytes(text.encode("utf-8"))
            done.files[split] = path
            done.flattened += flattened
        out.append(done)
    return out


def glue_file_text(task: Task, split: Split) -> tuple[str, int]:
    """The GLUE-download file of ``split``, and how many texts had tabs or newlines made spaces."""
    layout = task.glue
    assert layout is not None
    labelled = split.labels is not None
    columns = layout.file_columns(split.name, labelled)
    missing = [c for c in (*layout.text_columns, layout.label_column if labelled else layout.index_column)
               if c not in columns]
    if missing:
        raise DataError(f"Task {task.name}: the {split.name} layout has no column {missing[0]!r}.", "")
    is_csv = layout.files[split.name].lower().endswith(".csv")
    flattened = 0
    rows: list[list[str]] = []
    for i, texts in enumerate(split.texts):
        values = {layout.index_column: split.ids[i]}
        for name, text in zip(layout.text_columns, texts, strict=True):
            if not is_csv and any(c in text for c in "\t\n\r"):
                # A GLUE TSV has no quoting: a tab or newline would cut the row.
                text = text.replace("\r\n", " ").translate(FLATTEN)
                flattened += 1
            values[name] = text
        if split.labels is not None:
            values[layout.label_column] = label_text(task, split.labels[i])
        rows.append([values.get(c, "") for c in columns])
    header = [] if labelled and layout.columns is not None else [list(columns)]
    if is_csv:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([*header, *rows])
        text = buffer.getvalue()
    else:
        text = "".join("\t".join(row) + "\n" for row in [*header, *rows])
    if split.name in layout.byte_order_mark:
        text = BOM + text
    return text, flattened


def label_text(task: Task, label: np.generic | float | int) -> str:
    """GLUE's own label string: the class name, or the score in the fewest digits that read back the same."""
    if task.labels is None:
        return np.format_float_positional(np.float32(label), unique=True, trim="0")
    return task.labels[int(label)]


# -- glue data list: what is on this machine ---------------------------------------------


@dataclass
class Available:
    """A task's data found on this machine: in ``$GLUE_DIR`` or in the datasets cache."""

    task: str
    source: str
    splits: dict[str, int | None]
    path: Path
    size_bytes: int


def available(tasks: list[Task]) -> list[Available]:
    """Each task's folder under ``$GLUE_DIR`` (its files), then each hub config the datasets cache holds."""
    out: list[Available] = []
    glue_dir = os.environ.get("GLUE_DIR")
    for task in tasks:
        if not glue_dir or task.glue is None:
            continue
        folder = Path(glue_dir) / task.glue.folder
        files = {s: Path(os.path.normpath(folder / f)) for s, f in task.glue.files.items()}
        present = {s: p for s, p in files.items() if p.is_file()}
        if present:
            out.append(Available(task.name, "GLUE_DIR", {s: None for s in present}, folder,
                                 sum(p.stat().st_size for p in present.values())))
    try:
        import datasets  # noqa: F401  (the hub extra: without it nothing is cached)
    except ImportError:
        return out
    by_location: dict[str, list[Task]] = {}
    for task in tasks:
        if task.hub_id is not None and task.hub_config is not None:
            by_location.setdefault(dataset_location(task), []).append(task)
    for location, located in by_location.items():
        for entry in cached_configs(location):
            for task in located:
                wanted = {task.hub_config, *(config for config, _ in task.hub_splits.values())}
                if entry.config in wanted:
                    out.append(Available(task.name, f"datasets cache ({location}, {entry.config})",
                                         dict(entry.splits), entry.path, entry.size_bytes))
    return out
