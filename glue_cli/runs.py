"""The run directory: its layout, creating it safely, and finding a model inside one."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glue_cli.atomic import write_json
from glue_cli.errors import RunDirError


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def history(self) -> Path:
        return self.path / "history.jsonl"

    @property
    def model(self) -> Path:
        return self.path / "model"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint"

    @property
    def predictions(self) -> Path:
        return self.path / "predictions"

    def write_config(self, data: dict[str, Any]) -> None:
        write_json(self.config, data)

    def write_metrics(self, data: dict[str, Any]) -> None:
        write_json(self.metrics, data)


def default_run_path(task: str, backend: str) -> Path:
    return Path("runs") / f"{task}-{backend}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare(path: Path, overwrite: bool, resume: bool) -> RunDir:
    """Create the run directory. An existing, non-empty one needs ``--overwrite`` or ``--resume``."""
    run = RunDir(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"Output path {path} is a file.", "Pass another --output-dir.")
    busy = path.is_dir() and any(path.iterdir())
    if resume:
        if not (run.checkpoint / "state.json").is_file():
            raise RunDirError(
                f"Nothing to resume in {path}: it has no checkpoint.",
                "Drop --resume to start a new run.",
            )
        return run
    if busy:
        if not overwrite:
            raise RunDirError(
                f"Output directory {path} already exists and is not empty.",
                "Pass --overwrite to replace it, --resume to continue it, or another --output-dir.",
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return run


def model_dir(path: Path) -> Path:
    """The model folder of a run directory, or ``path`` itself when it is a model folder."""
    if (path / "model" / "config.json").is_file():
        return path / "model"
    if (path / "config.json").is_file() and not (path / "metrics.json").is_file():
        return path
    raise RunDirError(
        f"No model in {path}.", "Pass a run directory from glue train, or a model folder."
    )


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
