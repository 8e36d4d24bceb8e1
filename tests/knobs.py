"""What the trainer-knob tests share (tests/core/test_knobs_*.py, tests/backends/test_knobs_backends.py):
a short tiny-model run, its history, and a run interrupted right after the checkpoint of a given step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from glue_cli.cli import build_app
from glue_cli.plugins import manager as plugins
from glue_cli.plugins.hookspecs import hookimpl
from glue_cli.training import events
from helpers import FAST, Result, ok, reset_plugins

# FAST is 48 MRPC rows in batches of 16: 3 updates an epoch.
STEPS_PER_EPOCH = 3


def run_args(run: Path, model: Path, *extra: Any, backend: str | None = None) -> tuple[Any, ...]:
    chosen = ("--backend", backend) if backend else ()
    return ("train", "mrpc", *chosen, "--model", model, "--output-dir", run, *FAST, *extra)


def train(run: Path, model: Path, *extra: Any, backend: str | None = None) -> dict[str, Any]:
    return ok(*run_args(run, model, *extra, backend=backend), "--json", "-q").json()


def history(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def of_kind(run: Path, kind: str) -> list[dict[str, Any]]:
    return [h for h in history(run) if h["event"] == kind]


class InterruptAtStep:
    """Ctrl-C right after the checkpoint of update ``step`` (after every reporter saw it)."""

    def __init__(self, step: int) -> None:
        self.step = step

    @hookimpl(trylast=True)
    def glue_on_event(self, event: events.Event) -> None:
        if isinstance(event, events.CheckpointSaved) and event.step == self.step:
            raise KeyboardInterrupt


def interrupted_at(step: int, *args: Any) -> Result:
    reset_plugins()
    plugins.get_plugins().pm.register(InterruptAtStep(step), name="interrupt")
    result = CliRunner().invoke(build_app(), [str(a) for a in args])
    return Result(result.exit_code, result.stdout, result.stderr, result.exception)
