"""A progress bar for the long steps outside training: ``glue eval`` and ``glue predict``.

The bar counts examples as the engine returns their logits, so the loops that compute them
(``evaluation.split_logits``) stay unaware of it: ``Counting`` wraps the engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from glue_cli.data.batching import Batch
from glue_cli.display import console


class Counting:
    """An engine whose ``predict`` also advances a progress bar by the batch's real examples.

    The bar appears with the first batch: a check that fails before any prediction (a file that
    exists, say) stays the one-line error it is, with no empty bar above it.
    """

    def __init__(self, engine: Any, progress: Progress, task: TaskID) -> None:
        self._engine = engine
        self._progress = progress
        self._task = task
        self._start = 0.0
        self._done = 0
        self.started = False

    def predict(self, batch: Batch) -> np.ndarray:
        if not self.started:
            self.started, self._start = True, time.perf_counter()
            self._progress.start()
        logits = self._engine.predict(batch)
        real = batch.num_examples  # filler rows are not examples
        self._done += real
        speed = self._done / max(1e-9, time.perf_counter() - self._start)
        self._progress.update(self._task, advance=real, speed=speed)
        return logits

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


@contextmanager
def counting(engine: Any, label: str, total: int, show: bool = True) -> Iterator[Any]:
    """``engine``, wrapped to show ``label: n/total examples, ex/s, eta`` on stderr while in use."""
    if not show:
        yield engine
        return
    progress = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("examples  {task.fields[speed]:.1f} ex/s"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console(),
    )
    task = progress.add_task(label, total=total, speed=0.0)
    wrapped = Counting(engine, progress, task)
    try:
        yield wrapped
    finally:
        if wrapped.started:
            progress.stop()
