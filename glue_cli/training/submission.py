"""Prediction files: test-set predictions in the GLUE leaderboard format, dev-set predictions, the zip.

A leaderboard file is ``<NAME>.tsv`` (``MRPC.tsv``, ``MNLI-m.tsv``, ``AX.tsv`` ...) with the
header ``index<TAB>prediction``, one row per test example: the label string for a
classification task (``entailment``, or ``0``/``1`` where GLUE's files use those) and a
float for STS-B.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from glue_cli.data.tasks import Task
from glue_cli.errors import RunDirError
from glue_cli.runs.atomic import atomic_file
from glue_cli.training.metrics import predictions_from_logits
from glue_cli.validation import inside, safe_name

HEADER = "index\tprediction"
ZIP_NAME = "submission.zip"


def prediction_strings(task: Task, logits: np.ndarray) -> list[str]:
    """What the leaderboard wants per example: a label name, or the score with 3 decimals."""
    predicted = predictions_from_logits(logits, task.is_regression)
    if task.labels is None:
        return [f"{float(v):.3f}" for v in predicted]
    return [task.labels[int(i)] for i in predicted]


def submission_paths(task: Task, splits: list[str], out_dir: Path) -> dict[str, Path]:
    """The leaderboard file of each split, in ``out_dir``: a name from a model folder or a plugin that is
    not a plain file name (``../x``, ``/abs/x``) is refused, never followed."""
    if out_dir.exists() and not out_dir.is_dir():
        raise RunDirError(f"Output folder {out_dir} is a file.", "Pass another --output-dir.")
    return {
        split: inside(out_dir, out_dir / safe_name(task.submission_file(split), "Prediction file"), "Prediction file")
        for split in splits
    }


def check_free(paths: list[Path], overwrite: bool) -> None:
    """Refuse, before any work, to replace prediction files without ``--overwrite``."""
    taken = [p for p in paths if p.exists()]
    if taken and not overwrite:
        raise RunDirError(
            f"Prediction file {taken[0]} already exists.",
            "Pass --overwrite to replace it, or another --output-dir.",
        )


def write_tsv(path: Path, header: str, rows: Sequence[tuple[str, ...]]) -> None:
    with atomic_file(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(header + "\n")
            for row in rows:
                f.write("\t".join(row) + "\n")


def write_submission(task: Task, ids: list[str], logits: np.ndarray, path: Path) -> None:
    write_tsv(path, HEADER, list(zip(ids, prediction_strings(task, logits), strict=True)))


def write_eval_predictions(
    task: Task, ids: list[str], logits: np.ndarray, labels: np.ndarray, path: Path
) -> None:
    """Dev-set predictions beside their gold labels (full float precision), to check metrics on."""
    predicted = predictions_from_logits(logits, task.is_regression)
    if task.labels is None:
        rows = [(i, repr(float(p)), repr(float(g))) for i, p, g in zip(ids, predicted, labels, strict=True)]
    else:
        rows = [(i, task.labels[int(p)], task.labels[int(g)]) for i, p, g in zip(ids, predicted, labels, strict=True)]
    write_tsv(path, "index\tprediction\tlabel", rows)


def zip_folder(out_dir: Path) -> Path:
    """Bundle every ``.tsv`` of ``out_dir`` into ``out_dir/submission.zip`` (rebuilt each time)."""
    files = sorted(p for p in out_dir.glob("*.tsv") if p.is_file())
    path = out_dir / ZIP_NAME
    with atomic_file(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for file in files:
            z.write(file, arcname=file.name)  # the leaderboard wants the files at the root
    return path
