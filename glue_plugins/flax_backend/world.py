"""Multi-process JAX as the run's world: ``jax.distributed`` joined once, its collectives.

The processes find each other through a coordinator: ``JAX_COORDINATOR_ADDRESS`` (host:port of
process 0), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``, set on every machine (``glue train
--nproc N --backend flax`` sets them for N processes here). Each process keeps its local devices;
the engine's mesh spans every process's devices, so one jit step trains on the global batch. On a
CPU the cross-process collectives are gloo's (``jax_cpu_collectives_implementation``).
"""

from __future__ import annotations

import functools
import os
import pickle
from typing import Any

import numpy as np

from glue_cli.api import ConfigError, World, free_port, run_local_workers

ADDRESS, COUNT, PROCESS_ID = "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"
# Seconds to wait for every process to reach the coordinator, and for a silent peer.
TIMEOUT_VARIABLE = "GLUE_DIST_TIMEOUT"


def _whole(name: str) -> int:
    raw = os.environ.get(name)
    try:
        return int(raw or "")
    except ValueError:
        raise ConfigError(f"{ADDRESS} is set but {name}={raw!r} is not a whole number.",
                          f"Set {COUNT} (how many processes) and {PROCESS_ID} (this one's, from 0) too.") from None


class JaxWorld(World):
    def __init__(self) -> None:
        import jax

        self.rank = jax.process_index()
        self.size = jax.process_count()
        self.local_devices = jax.local_device_count()

    def gather(self, array: np.ndarray) -> list[np.ndarray]:
        from jax.experimental import multihost_utils

        return list(np.asarray(multihost_utils.process_allgather(array)))

    def broadcast(self, value: Any) -> Any:
        from jax.experimental import multihost_utils

        # Any picklable value, as bytes: the length first, since only process 0 knows it.
        data = np.frombuffer(pickle.dumps(value), np.uint8) if self.is_main else np.zeros(0, np.uint8)
        length = int(multihost_utils.broadcast_one_to_all(np.int32(len(data))))
        buffer = data if self.is_main else np.zeros(length, np.uint8)
        return pickle.loads(np.asarray(multihost_utils.broadcast_one_to_all(buffer)).tobytes())

    def describe(self) -> str:
        return f"{self.size} processes (jax.distributed)"


def join() -> World:
    """``jax.distributed.initialize`` from the JAX_* variables, or one process when they are not set.

    The variables are read on every call (a mistake in them is always the user's one line); the
    processes join once.
    """
    address = os.environ.get(ADDRESS)
    if not address:
        return World()
    count, process_id = _whole(COUNT), _whole(PROCESS_ID)
    if not 0 <= process_id < count:
        raise ConfigError(f"{PROCESS_ID}={process_id} is not between 0 and {COUNT}-1 = {count - 1}.", "")
    return _joined(address, count, process_id)


@functools.cache  # jax.distributed is joined once per process
def _joined(address: str, count: int, process_id: int) -> World:
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    timeout = int(float(os.environ.get(TIMEOUT_VARIABLE, "300")))
    # The shutdown barrier at exit waits for every process: one that failed must not wait 5 minutes.
    jax.distributed.initialize(address, count, process_id, initialization_timeout=timeout,
                               heartbeat_timeout_seconds=min(timeout, 100), shutdown_timeout_seconds=timeout)
    return JaxWorld()


def launch(processes: int, argv: list[str], env: dict[str, str | None]) -> int:
    """``python -m glue_cli ARGV`` as ``processes`` JAX processes on this machine, coordinated on a free
    local port; when one fails the others are stopped. Returns the first failure's exit code."""
    shared = {ADDRESS: f"127.0.0.1:{free_port()}", COUNT: str(processes)}
    return run_local_workers(argv, env, [{**shared, PROCESS_ID: str(i)} for i in range(processes)])
