"""Running the CLI in-process, the way a user would from a shell."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from glue_cli import events, plugins
from glue_cli.cli import build_app
from glue_cli.hookspecs import hookimpl


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    def json(self) -> Any:
        return json.loads(self.stdout)


def reset_plugins() -> None:
    for cached in (plugins.get_plugins, plugins.get_tasks, plugins.get_backends):
        cached.cache_clear()


def glue(*args: str) -> Result:
    """Run ``glue ARGS`` with fresh plugin discovery; stdout and stderr kept apart."""
    reset_plugins()
    result = CliRunner().invoke(build_app(), [str(a) for a in args])
    return Result(result.exit_code, result.stdout, result.stderr, result.exception)


def ok(*args: str) -> Result:
    result = glue(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


class InterruptAfterFirstEpoch:
    """A plugin that presses Ctrl-C right after the first epoch's checkpoint."""

    @hookimpl
    def glue_on_event(self, event: events.Event) -> None:
        if isinstance(event, events.CheckpointSaved) and event.epoch == 1:
            raise KeyboardInterrupt


def glue_interrupted(*args: str) -> Result:
    """Run ``glue ARGS`` and interrupt it after its first epoch, as a user's Ctrl-C would."""
    reset_plugins()
    plugins.get_plugins().pm.register(InterruptAfterFirstEpoch(), name="interrupt")
    result = CliRunner().invoke(build_app(), [str(a) for a in args])
    return Result(result.exit_code, result.stdout, result.stderr, result.exception)


MAJORITY_ACCURACY = 279 / 408  # MRPC dev: 68.4% of pairs are paraphrases


def predicted_classes(run: Path) -> set[str]:
    """The labels a run predicted on the dev set (from eval_predictions/validation.tsv)."""
    lines = (run / "eval_predictions" / "validation.tsv").read_text().splitlines()[1:]
    return {line.split("\t")[1] for line in lines}


# What each first-party backend needs importable (the nox matrix installs one set per session).
FRAMEWORK_MODULES = {"torch": ("torch",), "tf": ("tensorflow", "tf_keras"), "flax": ("jax", "flax", "optax")}


def framework_installed(backend: str) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in FRAMEWORK_MODULES[backend])
