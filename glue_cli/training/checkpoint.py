"""The run's resumable checkpoint, written by the core for every backend.

``checkpoint/`` holds ``model/`` (the Hugging Face folder), the engine's state arrays and
extras (``EngineBase.save_state``), and ``state.json``: the global step, the epoch, the backend
that wrote it, and the seconds of each epoch and examples seen so far (so metrics.json describes
the whole run after a --resume). It is swapped in atomically: a kill leaves the old one or the new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glue_cli.errors import RunDirError
from glue_cli.runs.atomic import atomic_dir, write_json
from glue_cli.training.backends import Engine

STATE = "state.json"
MODEL = "model"


@dataclass(frozen=True)
class Position:
    """Where a checkpoint stands: ``step`` optimizer updates done, ``epoch`` whole epochs done
    (``step // steps_per_epoch``), and ``epoch_step`` updates into the epoch in progress, which a
    resume skips. The rest makes a resumed run's totals and best-model choice the whole run's:
    the seconds of each finished epoch and of the one in progress, examples seen, the best
    evaluation (``selection.Best.to_dict``), the latest one, and whether early stopping ended the run.
    """

    step: int
    epoch: int
    backend: str | None = None
    epoch_seconds: list[float] = field(default_factory=list)
    examples: int = 0
    epoch_step: int = 0
    steps_per_epoch: int | None = None
    epoch_elapsed: float = 0.0
    best: dict[str, Any] | None = None
    last_eval: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "backend": self.backend,
                "epoch_seconds": list(self.epoch_seconds), "examples": self.examples,
                "epoch_step": self.epoch_step, "steps_per_epoch": self.steps_per_epoch,
                "epoch_elapsed": self.epoch_elapsed, "best": self.best, "last_eval": self.last_eval,
                "stopped_early": self.stopped_early}


def save(engine: Engine, folder: Path, position: Position) -> None:
    with atomic_dir(folder) as tmp:
        engine.save_model(tmp / MODEL)
        engine.save_state(tmp)
        write_json(tmp / STATE, position.to_dict())


def damaged(path: Path, why: str) -> RunDirError:
    return RunDirError(f"{path}: unreadable checkpoint state ({why}).",
                       "The checkpoint is damaged: pass --overwrite instead of --resume to start again.")


def read(folder: Path) -> Position:
    """The checkpoint's position, checked: a JSON object with a whole, non-negative ``step``."""
    path = folder / STATE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise damaged(path, str(exc).splitlines()[0] if str(exc) else "empty") from None
    step = data.get("step") if isinstance(data, dict) else None
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise damaged(path, "no whole, non-negative step")
    try:
        seconds = [float(s) for s in data.get("epoch_seconds", [])]
        per_epoch = data.get("steps_per_epoch")
        best, last_eval = data.get("best"), data.get("last_eval") or {}
        if not isinstance(best, dict | None) or not isinstance(last_eval, dict):
            raise TypeError("best and last_eval must be objects")
        return Position(
            step, int(data.get("epoch", 0)), data.get("backend"), seconds, int(data.get("examples", 0)),
            int(data.get("epoch_step", 0)), None if per_epoch is None else int(per_epoch),
            float(data.get("epoch_elapsed", 0.0)), best, last_eval, bool(data.get("stopped_early", False)),
        )
    except (TypeError, ValueError) as exc:
        raise damaged(path, str(exc)) from None


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
