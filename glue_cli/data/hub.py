"""The Hugging Face hub as a data source (``nyu-mll/glue`` through ``datasets``, the ``hub`` extra).

Used only when no GLUE folder is given. ``datasets`` is imported here, lazily: it costs
seconds and is optional. ``datasets`` keeps what it read in its cache
(``~/.cache/huggingface/datasets``, ``HF_DATASETS_CACHE``), so the second run reads no network;
without a network it is read from there directly.

``GLUE_HUB_DATASET`` stands in for ``nyu-mll/glue``: another hub id (a mirror) or a local folder
laid out like the hub repository (``<config>/<split>-*.parquet`` and a README whose ``configs:``
name them), read by the same ``datasets.load_dataset`` call.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from glue_cli.data.glue_folder import Split
from glue_cli.data.tasks import Task
from glue_cli.errors import DataError
from glue_cli.training.models import hub_offline

GLUE_HUB_ID = "nyu-mll/glue"
DATASET_ENV = "GLUE_HUB_DATASET"
INDEX_COLUMN = "idx"
INSTALL_HINT = 'pip install "glue-cli[hub]"'


def no_data_hint(task: Task) -> str:
    """The three ways to train without the hub."""
    folder = task.glue.folder if task.glue else task.name
    return (
        f"Set GLUE_DIR=/path/to/glue_data, pass --data-dir /path/to/glue_data/{folder}, "
        f"or run glue data fetch {task.name} once online (it caches the data and writes glue_data/)."
    )


def dataset_location(task: Task) -> str:
    """Where ``task``'s hub dataset is read from: ``GLUE_HUB_DATASET`` replaces ``nyu-mll/glue``."""
    if task.hub_id is None or task.hub_config is None:
        raise DataError(f"Task {task.name} is not on the hub.", no_data_hint(task))
    override = os.environ.get(DATASET_ENV, "").strip()
    return override if override and task.hub_id == GLUE_HUB_ID else task.hub_id


def local_folder(location: str) -> Path | None:
    """The folder ``location`` names, or None for a hub id (``owner/name``)."""
    path = Path(location).expanduser()
    if path.is_dir():
        return path
    if location.count("/") == 1 and not location.startswith((".", "/", "~")):
        return None
    raise DataError(
        f"{DATASET_ENV}={location}: no such folder (nor a hub id such as {GLUE_HUB_ID}).",
        f"Point {DATASET_ENV} at a folder laid out like the hub's {GLUE_HUB_ID}, or unset it.",
    )


def hub_location(task: Task, split: str) -> tuple[str, str, str]:
    """(dataset id or folder, config, split name) of one of ``task``'s splits on the hub."""
    location = dataset_location(task)
    config, name = task.hub_splits.get(split, (task.hub_config, split))
    assert config is not None  # dataset_location checked it
    return location, config, name


def import_datasets(task: Task, hint: str, why: str = "") -> Any:
    try:
        import datasets
    except ImportError:
        reason = "the hub is offline (HF_HUB_OFFLINE=1)" if hub_offline() else (
            f"reading the hub needs datasets ({INSTALL_HINT})"
        )
        raise DataError(f"No data for {task.name}: {why}{reason}.", hint) from None
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()  # the console is glue's; a failure is reported in one line
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()  # no retry chatter
    return datasets


@contextmanager
def offline(datasets: Any, on: bool) -> Iterator[None]:
    """With ``on``, ``datasets`` reads its cache without asking the hub (as HF_HUB_OFFLINE=1 would).

    Both libraries read the variable once, at import; their module constants are what they check.
    """
    if not on:
        yield
        return
    from huggingface_hub import constants

    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def load_rows(task: Task, split: str, hint: str, why: str = "") -> tuple[Any, Path]:
    """The hub table of one split (downloaded, or from the ``datasets`` cache) and where it came from.

    ``why`` starts the no-data message (``GLUE_DIR is not set, ``), ``hint`` ends it.
    """
    location, config, name = hub_location(task, split)
    folder = local_folder(location)
    datasets = import_datasets(task, hint, why)
    if folder is not None:
        try:
            rows = datasets.load_dataset(str(folder), config, split=name)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise DataError(
                f"{folder}: cannot read config {config!r}, split {name!r} ({type(exc).__name__}: {first})",
                f"{DATASET_ENV} must name a folder laid out like the hub's {GLUE_HUB_ID}.",
            ) from None
        return rows, folder / config / name
    without_network = hub_offline() or not reachable()
    try:
        with offline(datasets, without_network):
            rows = datasets.load_dataset(location, config, split=name)
    except Exception as exc:  # offline and not cached, no network, or the hub refused
        if hub_offline():
            reason = "the hub is offline (HF_HUB_OFFLINE=1)"
        elif without_network:
            reason = "the hub cannot be reached (no network)"
        else:
            reason = f"the hub could not be read ({type(exc).__name__})"
        raise DataError(
            f"No data for {task.name}: {why}{reason} and {location} ({config}) "
            "is not in the datasets cache.",
            hint,
        ) from None
    return rows, Path(f"hf://datasets/{location}/{config}/{name}")


def read_hub_split(task: Task, split: str, hint: str | None = None) -> Split:
    """Download (or read from the datasets cache) one split and map it to the task's fields."""
    if hint is None:  # training or evaluating, where a GLUE folder would have been read
        rows, where = load_rows(task, split, no_data_hint(task), "GLUE_DIR is not set, ")
    else:
        rows, where = load_rows(task, split, hint)
    return split_from_rows(task, split, rows, where)


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


# -- what the datasets cache holds --------------------------------------------------------


@dataclass
class CachedConfig:
    """One hub config that ``datasets`` has prepared on disk: its splits and their row counts."""

    dataset: str
    config: str
    splits: dict[str, int]
    path: Path
    size_bytes: int


def cache_root() -> Path:
    """``datasets``' cache folder (``HF_DATASETS_CACHE``, else under ``HF_HOME``)."""
    import datasets

    return Path(datasets.config.HF_DATASETS_CACHE)


def cache_name(location: str) -> str:
    """The folder ``datasets`` caches a dataset under: ``owner___name`` for a hub id, the folder's name else."""
    from datasets.naming import camelcase_to_snakecase

    folder = local_folder(location)
    if folder is not None:
        return camelcase_to_snakecase(folder.resolve().name)
    owner, name = location.split("/")
    return f"{owner}___{camelcase_to_snakecase(name)}"


def cached_configs(location: str) -> list[CachedConfig]:
    """Every config of ``location`` in the datasets cache (``<cache>/<name>/<config>/<version>/<hash>``)."""
    root = cache_root() / cache_name(location)
    out: list[CachedConfig] = []
    for info_file in sorted(root.glob("*/*/*/dataset_info.json")):
        try:
            info = json.loads(info_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a half-written entry: datasets rebuilds it
        splits = {str(k): int(v.get("num_examples", 0)) for k, v in (info.get("splits") or {}).items()}
        size = sum(f.stat().st_size for f in info_file.parent.iterdir() if f.is_file())
        out.append(CachedConfig(location, info_file.parent.parent.parent.name, splits, info_file.parent, size))
    return out
