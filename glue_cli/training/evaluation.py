"""Logits over a whole split, batch by batch, and what is made of them: metrics, dev predictions,
leaderboard files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from glue_cli.data.batching import Padding, iterate, length_order
from glue_cli.data.features import Encoded
from glue_cli.data.tasks import Task
from glue_cli.errors import DataError
from glue_cli.training import metrics
from glue_cli.training.backends import Engine
from glue_cli.training.events import EvalEnded, EventSink
from glue_cli.training.pipeline import Prepared
from glue_cli.training.submission import check_free, submission_paths, write_eval_predictions, write_submission
from glue_cli.training.world import World, gather_rows, shard


def split_logits(
    engine: Engine,
    padding: Padding,
    encoded: Encoded,
    batch_size: int,
    max_length: int,
    pad_token_id: int,
    num_labels: int,
    world: World | None = None,
) -> np.ndarray:
    """float32 ``[examples, num_labels]`` in file order; every example exactly once, filler rows dropped.

    Batches go longest first, sorted by length (little padding, peak memory at the first batch);
    each row's logits are put back at its example's place in the file. ``padding``: the engine's
    (``Prepared.padding``). With several workers each predicts its shard of every batch and all get
    the whole batch back (the framework's gather).
    """
    world = world or World()
    out = np.zeros((len(encoded), num_labels), dtype=np.float32)
    seen = np.zeros(len(encoded), dtype=np.int64)
    for batch in iterate(
        encoded, batch_size, padding.multiple, max_length, order=length_order(encoded.lengths),
        fixed_rows=padding.fixed_rows, pad_token_id=pad_token_id,
    ):
        part = shard(batch, world)
        logits, index = gather_rows(world, np.asarray(engine.predict(part), dtype=np.float32), part.example_index)
        out[index] = logits
        np.add.at(seen, index, 1)
    if len(encoded) and (seen != 1).any():  # a sharding bug would silently bias the metrics
        raise RuntimeError(f"evaluation scored {int((seen == 0).sum())} examples never and "
                           f"{int((seen > 1).sum())} more than once")
    return out


def score(task: Task, logits: np.ndarray, labels: np.ndarray, with_loss: bool = False) -> dict[str, float]:
    """The task's metrics; with ``with_loss`` also ``loss``, the training loss (no smoothing) on these rows."""
    predictions = metrics.predictions_from_logits(logits, task.is_regression)
    result = metrics.compute(task.metrics, labels, predictions)
    if with_loss:
        result["loss"] = metrics.loss(logits, labels, task.is_regression)
    return result


def all_logits(
    engine: Engine, p: Prepared, split: str, batch_size: int, max_length: int,
    permutation: list[int] | None = None, world: World | None = None,
) -> np.ndarray:
    """Logits of a whole split, columns in the task's label order."""
    logits = split_logits(
        engine, p.padding, p.encoded[split], batch_size, max_length, p.pad_id, p.task.num_labels, world
    )
    return logits if permutation is None else logits[:, permutation]


def evaluate_all(
    engine: Engine, p: Prepared, batch_size: int, max_length: int, emit: EventSink | None,
    epoch: int, permutation: list[int] | None = None, predictions_dir: Path | None = None,
    world: World | None = None,
    with_loss: bool = False,
) -> dict[str, dict[str, float]]:
    """The task's metrics on each of its evaluation splits; dev predictions written beside gold labels."""
    results = {}
    for name in p.task.eval_splits:
        start = time.perf_counter()
        logits = all_logits(engine, p, name, batch_size, max_length, permutation, world)
        labels = p.splits[name].labels
        assert labels is not None
        results[name] = score(p.task, logits, labels, with_loss)
        if emit is not None:
            emit(EvalEnded(epoch, name, results[name], len(labels), time.perf_counter() - start))
        if predictions_dir is not None:
            write_eval_predictions(p.task, p.splits[name].ids, logits, labels, predictions_dir / f"{name}.tsv")
    return results


def predict_test(
    engine: Engine, p: Prepared, batch_size: int, max_length: int, out_dir: Path, overwrite: bool,
    permutation: list[int] | None = None, world: World | None = None,
) -> dict[str, str]:
    """Leaderboard files for every test split read; returns {split: file written} (by the main worker)."""
    world = world or World()
    tests = [s for s in p.task.unlabelled_splits if s in p.splits]
    if not tests:
        raise DataError(f"No test split to predict for {p.task.name}.", "Pass the test file (--test-file).")
    paths = submission_paths(p.task, tests, out_dir)
    if world.is_main:
        check_free(list(paths.values()), overwrite)
    for split, path in paths.items():
        logits = all_logits(engine, p, split, batch_size, max_length, permutation, world)
        if world.is_main:
            write_submission(p.task, p.splits[split].ids, logits, path)
    return {split: str(path) for split, path in paths.items()}
