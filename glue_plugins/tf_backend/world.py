"""tf.distribute as the run's world: ``MultiWorkerMirroredStrategy`` from TF_CONFIG, its collectives.

Every process (on one machine or many) gets a ``TF_CONFIG`` naming the whole cluster and its own
place in it, the way TensorFlow's users start multi-worker training::

    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker", "index": 0}}'

(``glue train --nproc N --backend tf`` sets it for N processes here, on free local ports.) When it
names more than one worker, this process joins them once: the strategy is created before any other
TF work (collective ops are configured at start-up), the engine builds its model and optimizer in
its scope, and ``gather``/``broadcast`` are replica-context ``all_gather``/``all_reduce`` of the
strategy: TensorFlow's own collectives (gRPC ring on CPUs, NCCL on GPUs), no home-made ones.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from glue_cli.api import ConfigError, World, free_port, run_local_workers

CONFIG_VARIABLE = "TF_CONFIG"
# Seconds a collective may wait for a peer (a dead worker) before the run ends with an error.
TIMEOUT_VARIABLE = "GLUE_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 600.0
HINT = ('Set TF_CONFIG to JSON like {"cluster": {"worker": ["host0:port", "host1:port"]}, '
        '"task": {"type": "worker", "index": 0}}, or unset it to train in one process.')


def cluster_place(raw: str) -> tuple[int, int]:
    """(this process's rank, how many processes) from TF_CONFIG's text: chief first, then the workers,
    as the strategy numbers its replicas."""
    try:
        config = json.loads(raw)
        cluster, task = config.get("cluster") or {}, config.get("task") or {}
        chiefs, workers = list(cluster.get("chief", [])), list(cluster.get("worker", []))
        kind, index = task.get("type"), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{CONFIG_VARIABLE} is not the JSON TensorFlow expects: {exc}", HINT) from None
    size = len(chiefs) + len(workers)
    if kind not in ("chief", "worker") or not 0 <= index < len(chiefs if kind == "chief" else workers):
        raise ConfigError(f"{CONFIG_VARIABLE}'s task {task!r} is not one of its cluster's chief or workers.", HINT)
    return (index if kind == "chief" else len(chiefs) + index), size


def timeout_seconds() -> float:
    raw = os.environ.get(TIMEOUT_VARIABLE, str(DEFAULT_TIMEOUT))
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{TIMEOUT_VARIABLE}={raw!r} is not a number of seconds.",
                          "Unset it, or give the seconds a collective may wait.") from None


class WorkerLost(RuntimeError):
    """A collective failed because a worker of the cluster is gone (its process died, its machine left)."""


# What TF says when a peer is gone: its coordination service's heartbeat check, or a collective's timeout.
LOST = re.compile(r"(The following tasks are unhealthy[^\n]*\n\S+|Collective ops is aborted by: [^\n]*|"
                  r"[^\n]*(?:timed out|Deadline Exceeded|Socket closed|Connection reset)[^\n]*)")


@contextmanager
def peers_checked() -> Iterator[None]:
    """TF's error for a lost peer (a multi-page graph error whose first line says nothing) as one line
    saying which worker is gone; other errors pass unchanged."""
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.AbortedError) as exc:
        found = LOST.search(exc.message or "")
        reason = " ".join(found.group(0).split()) if found else type(exc).__name__
        raise WorkerLost(f"a worker of the TF cluster is gone, so the run ends ({reason}); "
                         f"a collective waits at most {TIMEOUT_VARIABLE} seconds for a peer") from None


class TfWorld(World):
    """The workers of one ``MultiWorkerMirroredStrategy``; ``strategy`` is what the engine trains in."""

    def __init__(self, strategy: Any, rank: int, size: int) -> None:
        self.strategy = strategy
        self.rank, self.size = rank, size
        # Replicas per worker: its GPUs, or its CPU.
        self.local_devices = len(strategy.extended.worker_devices)

    def gather(self, array: np.ndarray) -> list[np.ndarray]:
        import tensorflow as tf

        def replica(value: Any) -> Any:
            return tf.distribute.get_replica_context().all_gather(value, axis=0)

        rows = array.reshape(1, *array.shape)  # all_gather concatenates: one row per replica
        with peers_checked():
            done = self.strategy.run(replica, args=(tf.constant(rows),))
            joined = np.asarray(self.strategy.experimental_local_results(done)[0].numpy())
        # Every local replica held this worker's array: keep one per worker.
        return [np.asarray(part) for part in joined[:: self.local_devices]]

    def broadcast(self, value: Any) -> Any:
        # Any picklable value, as bytes (int32s: TF's collectives take no uint8): the length first,
        # since only the main worker knows it.
        data = np.frombuffer(pickle.dumps(value), np.uint8).astype(np.int32) if self.is_main else np.zeros(0, np.int32)
        length = int(self.gather(np.array(data.size, np.int64))[0])
        buffer = data if self.is_main else np.zeros(length, np.int32)
        return pickle.loads(self.gather(buffer)[0].astype(np.uint8).tobytes())

    def describe(self) -> str:
        return f"{self.size} processes (MultiWorkerMirroredStrategy)"


def join() -> World:
    """The workers TF_CONFIG names (more than one), or one process when it names one or is unset.

    TF_CONFIG is read on every call (a mistake in it is always the user's one line); the cluster is
    joined once per process.
    """
    raw = os.environ.get(CONFIG_VARIABLE, "").strip()
    if not raw:
        return World()
    rank, size = cluster_place(raw)
    if size <= 1:
        return World()
    return _joined(raw, rank, size)


@functools.cache  # a process joins its cluster once
def _joined(raw: str, rank: int, size: int) -> World:
    from glue_plugins.tf_backend.backend import load_tensorflow, muted_stderr, quiet_wanted

    tf = load_tensorflow()
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_seconds())
    with muted_stderr(enabled=quiet_wanted()):  # CUDA's start-up lines when there is no GPU
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    return TfWorld(strategy, rank, size)


def strategy() -> Any:
    """The multi-worker strategy this process joined (``glue train`` joins through ``world()``), or None:
    ``glue eval``/``predict`` run as one process even where TF_CONFIG is set, never waiting for peers."""
    if _joined.cache_info().currsize == 0:
        return None
    return getattr(join(), "strategy", None)


def launch(processes: int, argv: list[str], env: dict[str, str | None]) -> int:
    """``python -m glue_cli ARGV`` as ``processes`` TF workers on this machine: TF_CONFIG names one free
    local port per worker; when one fails the others are stopped. The first failure's exit code."""
    cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(processes)]}
    return run_local_workers(argv, env, [
        {CONFIG_VARIABLE: json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
        for i in range(processes)
    ])
