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
    """A plugin that presses Ctrl-C right after the first epoch's checkpoint (after every reporter saw it)."""

    @hookimpl(trylast=True)
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


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text) under ``root``; returns ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def pip_install_target(target: Path, *projects: Path) -> Path:
    """pip-install project folders into ``target`` (put it on sys.path to use them): the test venv stays as is."""
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), *map(str, projects)],
        check=True, cwd=target.parent,
    )
    return target


def setuptools_project(dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> dict[str, str]:
    """The files of a minimal plugin distribution: ``modules`` maps a package's module path to its text."""
    packages = sorted({path.split("/")[0] for path in modules})
    stanza = "\n".join(f'"{name}" = "{value}"' for name, value in entry_points.items())
    pyproject = (
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{dist}"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n\n'
        f"[project.entry-points.glue_cli]\n{stanza}\n\n"
        f"[tool.setuptools]\npackages = {json.dumps(packages)}\n"
    )
    return {"pyproject.toml": pyproject, **modules}
