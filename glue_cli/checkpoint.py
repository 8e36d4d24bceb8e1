"""The run's resumable checkpoint, written by the core for every backend.

``checkpoint/`` holds ``model/`` (the Hugging Face folder), the engine's state arrays and
extras (``EngineBase.save_state``), and ``state.json``: the global step, the epoch and the
backend that wrote it. It is swapped in atomically: a kill leaves the old one or the new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glue_cli.atomic import atomic_dir, write_json
from glue_cli.backends import Engine
from glue_cli.errors import RunDirError

STATE = "state.json"
# The trainer's own state beside the position: the best evaluation so far, the latest one, early stopping.
TRAINER_STATE = "trainer_state.json"
MODEL = "model"


@dataclass(frozen=True)
class Position:
    """Where a checkpoint stands: ``step`` optimizer updates done, the last one in ``epoch``."""

    step: int
    epoch: int
    backend: str | None = None


def save(engine: Engine, folder: Path, position: Position, trainer_state: dict[str, Any] | None = None) -> None:
    with atomic_dir(folder) as tmp:
        engine.save_model(tmp / MODEL)
        engine.save_state(tmp)
        if trainer_state is not None:
            write_json(tmp / TRAINER_STATE, trainer_state)
        write_json(tmp / STATE, {"step": position.step, "epoch": position.epoch, "backend": position.backend})


def read(folder: Path) -> Position:
    """The checkpoint's position; a missing or unreadable state.json is one line naming it."""
    path = folder / STATE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Position(int(data["step"]), int(data.get("epoch", 0)), data.get("backend"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunDirError(
            f"Cannot read the checkpoint position {path}: {str(exc).splitlines()[0] if str(exc) else exc!r}.",
            "Start a new run (--overwrite), or resume from a run with a complete checkpoint.",
        ) from None


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """What the trainer saved beside the position; empty for a checkpoint written before it existed."""
    try:
        data = json.loads((folder / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def model_path(folder: Path) -> str:
    return str(folder / MODEL)


def restore(engine: Engine, folder: Path, position: Position, backend: str) -> None:
    """Load the engine's state; a checkpoint another backend wrote is refused before it is read."""
    if position.backend is not None and position.backend != backend:
        raise RunDirError(
            f"The checkpoint in {folder} was written by the {position.backend} backend, not {backend}.",
            f"Resume with --backend {position.backend}.",
        )
    engine.load_state(folder)
