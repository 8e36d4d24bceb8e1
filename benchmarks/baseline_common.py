"""What the baseline scripts share: glue-cli's MRPC rows, the bundled model, one JSON line of results.

The baselines read the same GLUE folder as ``glue train`` (``$GLUE_DIR/MRPC``, the first N rows) so
that a comparison runs on identical examples; everything after reading is the recipe's own.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

# The settings of DESIGN.md's reference runs: max length 128, batch 32, learning rate 2e-5, seed 42.
MAX_LENGTH = 128
BATCH_SIZE = 32
EVAL_BATCH_SIZE = 64
LEARNING_RATE = 2e-5
SEED = 42


def mrpc_splits(max_train: int | None, max_eval: int | None) -> tuple[Any, Any, Any]:
    """(task, train split, dev split): the first rows of each, as ``--max-train-samples`` takes them."""
    from glue_cli.data.glue_folder import read_glue_split
    from glue_plugins.glue_tasks import TASKS

    task = next(t for t in TASKS if t.name == "mrpc")
    folder = Path(os.environ["GLUE_DIR"]) / "MRPC"
    train = read_glue_split(task, folder, "train").head(max_train)
    dev = read_glue_split(task, folder, "validation").head(max_eval)
    return task, train, dev


def columns(split: Any) -> dict[str, list[Any]]:
    """A split as the hub's ``glue/mrpc`` columns: sentence1, sentence2, label."""
    first, second = zip(*split.texts, strict=True)
    return {"sentence1": list(first), "sentence2": list(second), "label": [int(x) for x in split.labels]}


def model_path() -> str:
    from glue_cli.training.models import bundled_model_path

    return str(bundled_model_path())


def scores(task: Any, labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    from glue_cli.training.metrics import compute

    return {k: round(float(v), 4) for k, v in compute(task.metrics, labels, predictions).items()}


class EpochClock:
    """Wall time of each epoch's training steps, from the epoch's start to its last step's end."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0
        self._last = 0.0

    def begin(self) -> None:
        self._start = self._last = time.perf_counter()

    def step(self) -> None:
        self._last = time.perf_counter()

    def end(self) -> None:
        self.seconds.append(self._last - self._start)


def report(recipe: str, examples_per_epoch: int, clock: EpochClock, metrics: dict[str, float], **extra: Any) -> None:
    """Print the result line: examples/s over the epochs after the first (which compiles and warms up),
    or over the only epoch."""
    timed = clock.seconds[1:] or clock.seconds
    print(json.dumps({
        "recipe": recipe,
        "examples_per_epoch": examples_per_epoch,
        "epoch_seconds": [round(s, 2) for s in clock.seconds],
        "examples_per_second": round(examples_per_epoch * len(timed) / sum(timed), 3),
        **metrics,
        **extra,
    }), flush=True)
