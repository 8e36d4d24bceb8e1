"""Logits over a whole split, batch by batch, and the task's metrics from them."""

from __future__ import annotations

import numpy as np

from glue_cli import metrics
from glue_cli.backends import Backend, Engine
from glue_cli.batching import iterate, length_order
from glue_cli.features import Encoded
from glue_cli.tasks import Task


def split_logits(
    engine: Engine,
    backend: Backend,
    encoded: Encoded,
    batch_size: int,
    max_length: int,
    pad_token_id: int,
    num_labels: int,
) -> np.ndarray:
    """float32 ``[examples, num_labels]`` in file order; every example exactly once, filler rows dropped.

    Batches go longest first, sorted by length (little padding, peak memory at the first batch);
    each row's logits are put back at its example's place in the file.
    """
    out = np.zeros((len(encoded), num_labels), dtype=np.float32)
    for batch in iterate(
        encoded, batch_size, backend.pad_multiple, max_length, order=length_order(encoded.lengths),
        fixed_rows=backend.fixed_batch_rows, pad_token_id=pad_token_id,
    ):
        logits = np.asarray(engine.predict(batch), dtype=np.float32)
        real = batch.example_index >= 0
        out[batch.example_index[real]] = logits[real]
    return out


def score(task: Task, logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    predictions = metrics.predictions_from_logits(logits, task.is_regression)
    return metrics.compute(task.metrics, labels, predictions)
