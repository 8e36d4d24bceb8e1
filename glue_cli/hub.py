"""The Hugging Face hub as a data source (``nyu-mll/glue`` through ``datasets``, the ``hub`` extra).

Used only when no GLUE folder is given. ``datasets`` is imported here, lazily: it costs
seconds and is optional.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from glue_cli.data import Split
from glue_cli.errors import DataError
from glue_cli.models import hub_offline
from glue_cli.tasks import Task

NO_FOLDER_HINT = "Set GLUE_DIR=/path/to/glue_data or pass --data-dir /path/to/glue_data/<TASK>."
INDEX_COLUMN = "idx"


def hub_location(task: Task, split: str) -> tuple[str, str, str]:
    """(dataset id, config, split name) of one of ``task``'s splits on the hub."""
    if task.hub_id is None or task.hub_config is None:
        raise DataError(f"Task {task.name} is not on the hub.", NO_FOLDER_HINT)
    config, name = task.hub_splits.get(split, (task.hub_config, split))
    return task.hub_id, config, name


def read_hub_split(task: Task, split: str) -> Split:
    """Download (or read from the datasets cache) one split and map it to the task's fields."""
    dataset_id, config, name = hub_location(task, split)
    if not hub_offline() and not reachable():
        raise DataError(
            f"No data for {task.name}: GLUE_DIR is not set and the hub cannot be reached (no network).",
            NO_FOLDER_HINT,
        )
    try:
        import datasets
    except ImportError:
        reason = "the hub is offline (HF_HUB_OFFLINE=1)" if hub_offline() else (
            'reading the hub needs datasets (pip install "glue-cli[hub]")'
        )
        raise DataError(f"No data for {task.name}: GLUE_DIR is not set and {reason}.", NO_FOLDER_HINT) from None
    datasets.logging.set_verbosity_error()
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()  # no retry chatter: a failure is reported in one line below
    try:
        rows = datasets.load_dataset(dataset_id, config, split=name)
    except Exception as exc:  # offline, no network, or the hub refused: all mean "use local files"
        reason = "the hub is offline (HF_HUB_OFFLINE=1)" if hub_offline() else (
            f"the hub could not be reached ({type(exc).__name__})"
        )
        raise DataError(f"No data for {task.name}: GLUE_DIR is not set and {reason}.", NO_FOLDER_HINT) from None
    return split_from_rows(task, split, rows, Path(f"hf://datasets/{dataset_id}/{config}/{name}"))


def reachable(timeout: float = 3.0) -> bool:
    """Whether the hub's host answers; without this, a machine with no network retries for half a minute.

    Behind a proxy the direct connection proves nothing, so then ``datasets`` is left to try.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((host.hostname or "huggingface.co", host.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def split_from_rows(task: Task, split: str, rows: Any, where: Path) -> Split:
    """Map a hub table (``datasets.Dataset`` or a dict of columns) to a Split.

    The hub's label ids already follow the task's label order; test splits carry label -1.
    """
    columns = rows.column_names if hasattr(rows, "column_names") else list(rows)
    missing = [c for c in (*task.text_fields, "label") if c not in columns]
    if missing:
        raise DataError(f"{where}: no column(s) {', '.join(missing)} (columns: {', '.join(columns)}).", "")
    texts = list(zip(*(list(rows[c]) for c in task.text_fields), strict=True))
    if not texts:
        raise DataError(f"{where}: the {split} split is empty.", "")
    raw = np.asarray(rows["label"])
    ids = [str(i) for i in rows[INDEX_COLUMN]] if INDEX_COLUMN in columns else [str(i) for i in range(len(texts))]
    labels: np.ndarray | None
    if split in task.unlabelled_splits or (not task.is_regression and bool((raw < 0).all())):
        labels = None
    elif task.is_regression:
        labels = raw.astype(np.float32)
        bad = np.flatnonzero(~np.isfinite(labels))
        if len(bad):
            raise DataError(f"{where}: row {int(bad[0])} has label {raw[bad[0]]!r}, not a finite number.", "")
    else:
        bad = np.flatnonzero((raw < 0) | (raw >= task.num_labels))
        if len(bad):
            raise DataError(f"{where}: row {int(bad[0])} has label id {int(raw[bad[0]])}, unknown to {task.name}.", "")
        labels = raw.astype(np.int64)
    return Split(split, [tuple(str(t) for t in row) for row in texts], labels, ids, where)
