"""Worker processes on this machine for a backend whose framework has no launcher of its own.

torch has torchrun; JAX and TensorFlow only describe a cluster (JAX_* variables, TF_CONFIG), so
their backends' ``launch`` starts the processes here, each with its own variables, and supervises
them: when one fails, the others are stopped and the run ends with one line naming the worker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now: where a launcher's local workers meet."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_local_workers(argv: list[str], env: dict[str, str | None], worker_env: list[dict[str, str]]) -> int:
    """``python -m glue_cli ARGV`` as one process per ``worker_env`` entry (its variables set: the
    framework's rank and peers) on this machine, and wait; when one fails the others are stopped.

    ``env`` is set (None: removed) in every worker; each gets an even share of the CPU threads
    (OMP_NUM_THREADS) unless set. Returns 0, or the first failed worker's exit code after one line
    naming it. The launcher a backend's ``launch`` uses when its framework has none of its own.
    """
    processes = len(worker_env)
    threads = max(1, (os.cpu_count() or 1) // processes)
    base = {k: v for k, v in os.environ.items() if env.get(k, "") is not None}
    base.update({k: v for k, v in env.items() if v is not None})
    base.setdefault("OMP_NUM_THREADS", str(threads))
    workers = [subprocess.Popen([sys.executable, "-m", "glue_cli", *argv], env={**base, **own})
               for own in worker_env]
    failed: tuple[int, int] | None = None
    try:
        while failed is None and any(w.poll() is None for w in workers):
            failed = next(((i, w.returncode) for i, w in enumerate(workers) if w.returncode not in (None, 0)), None)
            time.sleep(0.2)
        failed = failed or next(((i, w.returncode) for i, w in enumerate(workers) if w.returncode), None)
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
        for w in workers:
            try:
                w.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
    return 0 if failed is None else worker_failed(*failed, processes)


def worker_failed(rank: int, code: int, processes: int) -> int:
    """Say in one line which worker failed and how (``code`` < 0: the signal that ended it, as
    subprocess and torchrun report it); the exit code for the launcher's own exit (1 for a signal)."""
    how = f"exit code {code}" if code > 0 else f"signal {-code}"
    print(f"Error: worker {rank} of {processes} ended with {how}; the other workers were stopped "
          "(the workers' own messages are above).", file=sys.stderr)
    return code if code > 0 else 1
