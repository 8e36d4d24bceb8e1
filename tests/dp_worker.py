"""One data-parallel worker of a test run, started by torchrun: ``glue ARGS`` with a fault planted.

    torchrun --standalone --nproc-per-node 2 tests/dp_worker.py FAULT glue-args...

FAULT is ``none``, ``interrupt`` (the main worker is interrupted, as by Ctrl-C, right after the
first epoch's checkpoint) or ``kill-rank-1`` (worker 1 SIGKILLs itself as it starts its second
training step): what a test of resuming, or of a worker dying, needs from a run of several processes.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    fault, args = sys.argv[1], sys.argv[2:]
    from glue_cli.cli import build_app
    from glue_cli.plugins import manager as plugins
    from glue_cli.training import trainer
    from helpers import InterruptAfterFirstEpoch

    if fault == "interrupt":
        plugins.get_plugins().pm.register(InterruptAfterFirstEpoch(), name="interrupt")
    elif fault == "kill-rank-1" and os.environ["RANK"] == "1":
        steps = 0
        shard = trainer.shard

        def shard_then_die(*a: Any) -> Any:
            nonlocal steps
            steps += 1
            if steps == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return shard(*a)

        trainer.shard = shard_then_die  # type: ignore[assignment]
    build_app()(args, prog_name="glue")


if __name__ == "__main__":
    main()
