"""``glue train --nproc N``: the same run as N data-parallel workers, started by the backend's launcher.

The settings are resolved once, here, and handed to every worker in a settings file (the
``GLUE_<NAME>`` variables they stand for are removed from the workers' environment, so a flag
given here still wins over one); the backend's ``launch`` starts the workers (torch:
torchrun's own launcher) and waits for them.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import fields
from pathlib import Path

from glue_cli.config import RunConfig
from glue_cli.errors import ConfigError
from glue_cli.plugins.manager import get_backends
from glue_cli.runs.rundir import preflight
from glue_cli.training.backends import require_available

# Set in each worker by a launcher: torchrun, or glue's for JAX processes.
WORKER_VARIABLES = ("LOCAL_RANK", "JAX_PROCESS_ID")


def inside_launcher() -> bool:
    """This process is already one of the workers."""
    return any(name in os.environ for name in WORKER_VARIABLES)


def processes_wanted(config: RunConfig, nproc: int | None) -> int | None:
    """How many workers to start, or None to train in this process.

    ``--nproc N``; on a backend that starts workers itself (torch), ``--devices N`` too: one
    worker per device, as torchrun does it.
    """
    if inside_launcher():
        return None
    if nproc is not None:
        if nproc < 1:
            raise ConfigError(f"--nproc {nproc}: the number of worker processes must be at least 1.", "")
        return nproc if nproc > 1 else None
    backend = get_backends().get(config.backend)
    # flax splits a batch over the local devices itself: --devices keeps that meaning there.
    if backend.framework == "torch" and getattr(backend, "launch", None) is not None and (config.devices or 0) > 1:
        return config.devices
    return None


def launch(config: RunConfig, processes: int, flags: list[str]) -> int:
    """Run ``glue train`` with ``config`` as ``processes`` workers; the workers' exit code."""
    backend = get_backends().get(config.backend)
    start = getattr(backend, "launch", None)
    if start is None:
        raise ConfigError(
            f"--nproc {processes}: the {backend.name} backend does not start worker processes.",
            "Use --backend torch, or the backend's own launcher (see the README's scale-out section).",
        )
    require_available(backend)
    if config.output_dir:  # the folder's mistakes as one line here, not once per worker
        preflight(Path(config.output_dir), config.overwrite, config.resume)
    settings = {name: value for name, value in config.to_dict().items() if value is not None}
    with tempfile.TemporaryDirectory(prefix="glue-workers-") as folder:
        path = Path(folder) / "settings.json"
        path.write_text(json.dumps(settings), encoding="utf-8")
        env: dict[str, str | None] = {f"GLUE_{f.name.upper()}": None for f in fields(RunConfig)}
        return int(start(processes, ["train", "--config", str(path), *flags], env))

