"""Data-parallel workers as the core sees them: who this process is, how many there are, its rows.

A backend that trains over several processes (torch under torchrun, JAX with
``jax.distributed``) returns a ``World`` subclass whose ``gather`` and ``broadcast`` call its
framework's own collectives; the core never communicates by itself. One process is ``World()``.

The contract every worker keeps, so that N workers run the run one process would:
- each global batch (``--batch-size`` rows, the same length-grouped order) is cut into ``size``
  equal shards of ``ceil(rows / size)`` rows, filler rows (weight 0) completing the last ones;
- the engine averages the loss over the global batch's real rows (its framework's all-reduce);
- evaluation shards every batch the same way and gathers the logits with their example indices,
  so each example is scored exactly once;
- only the main process (rank 0) writes the run directory, logs, checkpoints and predictions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from glue_cli.data.batching import Batch
from glue_cli.errors import ConfigError, GlueError
from glue_cli.runs.rundir import RunDir, claim
from glue_cli.training.checkpoint import Position
from glue_cli.training.events import Event, EventSink


class World:
    """One process alone: rank 0 of 1. Subclasses supply their framework's collectives."""

    rank: int = 0
    size: int = 1
    # Accelerators per process the engine splits its shard over (flax local devices): shown, not used here.
    local_devices: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def gather(self, array: np.ndarray) -> list[np.ndarray]:
        """Every process's ``array`` (same shape on all), in rank order, on every process."""
        return [array]

    def broadcast(self, value: Any) -> Any:
        """The main process's ``value`` (anything picklable), on every process."""
        return value

    def describe(self) -> str:
        return "1 process" if self.size == 1 else f"{self.size} processes"

    def close(self, finished: bool) -> None:
        """Leave the group at the end of the run (``finished``: every worker got there, so wait for them all).

        A process that exits still holding its group can abort in the framework's teardown
        (gloo: "terminate called without an active exception"); one process has nothing to leave.
        """


def shard_rows(rows: int, size: int, rank: int) -> tuple[int, int, int]:
    """(start, stop, shard_rows): this rank's slice of ``rows`` rows cut into ``size`` equal shards."""
    per = -(-rows // size)
    start = min(rows, rank * per)
    return start, min(rows, start + per), per


def shard(batch: Batch, world: World) -> Batch:
    """This process's rows of a global batch, padded with filler rows to the common shard size."""
    if world.size == 1:
        return batch
    start, stop, per = shard_rows(batch.input_ids.shape[0], world.size, world.rank)
    extra = per - (stop - start)

    def cut(a: np.ndarray, fill: int = 0) -> np.ndarray:
        part = a[start:stop]
        return np.pad(part, [(0, extra)] + [(0, 0)] * (a.ndim - 1), constant_values=fill) if extra else part

    labels = None if batch.labels is None else cut(batch.labels)
    return Batch(cut(batch.input_ids), cut(batch.attention_mask), cut(batch.token_type_ids), labels,
                 cut(batch.example_index, fill=-1))


def gather_rows(world: World, logits: np.ndarray, example_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every worker's shard of one batch, back in one piece: (logits, example indices), filler rows dropped."""
    if world.size == 1:
        index = example_index
    else:
        logits = np.concatenate(world.gather(np.ascontiguousarray(logits, dtype=np.float32)))
        index = np.concatenate(world.gather(example_index.astype(np.int32))).astype(np.int64)
    real = index >= 0
    return logits[real], index[real]


# Set by torchrun (and by glue's --nproc launcher, which runs torchrun).
LAUNCHER_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


def launched_size() -> int:
    """How many processes a launcher says this run has (1 when none set WORLD_SIZE)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def open_world(backend: Any) -> World:
    """The backend's world (its process group joined), or one process for a backend without one.

    Started by torchrun (WORLD_SIZE > 1) with a backend that cannot share a run, every process
    would train the whole run into the same folder: refuse that instead.
    """
    join = getattr(backend, "world", None)
    world = join() if join is not None else World()
    if world.size == 1 and launched_size() > 1:
        raise ConfigError(
            f"The {backend.name} backend does not train over several processes, but WORLD_SIZE is "
            f"{launched_size()} (started by torchrun?).",
            "Run it as one process, or use glue train --nproc N (torch, flax, tf: see glue backends).",
        )
    return world


class WorkerSink(EventSink):
    """The events of a worker other than the main one: the main process reports the run alone."""

    def __call__(self, event: Event) -> None:
        return None


class WorkerStopped(GlueError):
    """The main process refused the run; the other workers stop with its message."""


@contextmanager
def claim_shared(
    world: World, path: Path, config: dict[str, Any]
) -> Iterator[tuple[dict[str, Any] | None, RunDir, Position | None]]:
    """``rundir.claim`` done by the main process alone, its outcome shared: (finished, run, resume position).

    The other workers wait at the broadcast; a ``GlueError`` of the main process's claim (the
    folder is taken, a --resume that does not fit...) reaches them as the same line, so none
    waits for a peer that has left. Every worker reads the checkpoint itself when resuming.
    """
    if not world.is_main:
        outcome = world.broadcast(None)
        if outcome[0] == "error":
            raise WorkerStopped(outcome[1], outcome[2])
        yield outcome[1], RunDir(path), outcome[2]
        return
    sent = False
    try:
        with claim(path, config) as claimed:
            world.broadcast(("ok", claimed.finished, claimed.state))
            sent = True
            yield claimed.finished, claimed.run, claimed.state
    except GlueError as exc:
        if not sent:
            world.broadcast(("error", exc.message, exc.hint))
        raise
