"""torch.distributed as the run's world: the process group torchrun describes, its collectives.

torchrun (or ``glue train --nproc N``, which runs it) sets RANK, WORLD_SIZE, LOCAL_RANK and the
rendezvous address; this joins that group once per process: NCCL on CUDA, gloo on a CPU.
A collective that waits longer than the timeout (a peer died) raises instead of hanging, and
torchrun stops the other workers when one fails.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from glue_cli.api import ConfigError, World, worker_failed

# Seconds a collective may wait for a peer before the run ends with an error.
TIMEOUT_VARIABLE = "GLUE_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 600


def timeout() -> timedelta:
    raw = os.environ.get(TIMEOUT_VARIABLE, str(DEFAULT_TIMEOUT))
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError(f"{TIMEOUT_VARIABLE}={raw!r} is not a number of seconds.",
                          "Unset it, or give the seconds a collective may wait.") from None
    return timedelta(seconds=seconds)


def local_device() -> str:
    """This worker's device: its own GPU (LOCAL_RANK) under a launcher, else the default one."""
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


class TorchWorld(World):
    def __init__(self) -> None:
        self.rank = dist.get_rank()
        self.size = dist.get_world_size()

    def gather(self, array: np.ndarray) -> list[np.ndarray]:
        parts: list[Any] = [None] * self.size
        dist.all_gather_object(parts, array)
        return parts

    def broadcast(self, value: Any) -> Any:
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def describe(self) -> str:
        return f"{self.size} processes ({dist.get_backend()})"

    def close(self, finished: bool) -> None:
        """Wait for every worker (after a run they all finished), then destroy the process group."""
        if not dist.is_initialized():
            return
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def join() -> World:
    """The process group torchrun describes (joined once), or one process when there is none."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return World()
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local_device())
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timeout())
    return TorchWorld()


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def launch(processes: int, argv: list[str], env: dict[str, str | None]) -> int:
    """``python -m glue_cli ARGV`` as ``processes`` workers on this machine, through torchrun's own
    launcher (``torch.distributed.run``, standalone rendezvous); the first failed worker's exit code.

    ``env`` is set (None: removed) for the workers only. Each worker gets an even share of the
    CPU threads unless OMP_NUM_THREADS says otherwise.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    threads = max(1, (os.cpu_count() or 1) // processes)
    changes = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(threads)), **env}
    saved = {name: os.environ.get(name) for name in changes}
    args = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={processes}", "--module", "glue_cli", *argv]
    )
    try:
        for name, value in changes.items():
            _set(name, value)
        run(args)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        return worker_failed(rank, failure.exitcode, processes)
    finally:
        for name, value in saved.items():
            _set(name, value)
    return 0


def _set(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
