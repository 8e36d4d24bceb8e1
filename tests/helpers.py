"""What tests of every folder share: running the CLI in-process the way a user would from a shell,
the one-line error check, the isolated environment each test (or shared run) gets, plugin packaging,
and the case each backend's first-token test checks."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from glue_cli.api import Batch, ModelSpec, make_tiny_model
from glue_cli.cli import build_app
from glue_cli.plugins import manager as plugins
from glue_cli.plugins.hookspecs import hookimpl
from glue_cli.training import events


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


def one_line_error(result: Result, *needles: str) -> str:
    """A user's mistake: exit code 2 and one line on stderr, holding every needle, no traceback."""
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


# A few real MRPC rows on a tiny model: what the backends' and reporters' training tests run.
FAST = ("--max-train-samples", "48", "--max-eval-samples", "40", "--batch-size", "16",
        "--learning-rate", "1e-3")

REPO = Path(__file__).resolve().parent.parent
SHARED_GLUE = REPO.parent / "shared" / "glue"
# transformers' framework switches, which a backend sets in os.environ for the rest of the process.
SWITCHES = ("USE_TF", "USE_TORCH", "USE_FLAX")


def glue_dir() -> Path | None:
    """$GLUE_DIR, else ../shared/glue beside the checkout, else None."""
    env = os.environ.get("GLUE_DIR")
    if env and Path(env).is_dir():
        return Path(env)
    return SHARED_GLUE if SHARED_GLUE.is_dir() else None


@contextlib.contextmanager
def isolated(work: Path, backend: str | None = None) -> Iterator[None]:
    """Run inside ``work`` with its own cache, no GLUE_ settings of the caller's, no hub access ever,
    and ``backend`` as the default one; framework switches a backend set are put back after."""
    switches = {name: os.environ.get(name) for name in SWITCHES}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLUE_CACHE_DIR", str(work / "cache"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TOKENIZERS_PARALLELISM", "false")
        for name in list(os.environ):
            if name.startswith("GLUE_") and name not in {"GLUE_CACHE_DIR", "GLUE_DIR"}:
                mp.delenv(name)
        path = glue_dir()
        if path is not None:
            mp.setenv("GLUE_DIR", str(path))
        if backend is not None:
            mp.setenv("GLUE_BACKEND", backend)
        mp.chdir(work)
        try:
            yield
        finally:
            for name, value in switches.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


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


# The real MiniLM on 600 MRPC rows, 3 epochs at 1e-4: enough to beat the majority class (slow tests).
MINILM_RECIPE = ("--max-train-samples", "600", "--epochs", "3", "--learning-rate", "1e-4")
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


def cached_hub_model(hub_cache: Path, repo_id: str, revisions: dict[str, tuple[str, Path]]) -> Path:
    """``repo_id`` in a Hugging Face cache folder as a download leaves it: for each ref (branch or tag),
    ``refs/<ref>`` names a commit whose ``snapshots/<commit>/`` holds a copy of the given model folder.
    Point ``huggingface_hub.constants.HF_HUB_CACHE`` at ``hub_cache`` to use it (offline)."""
    import shutil

    repo = hub_cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    for ref, (commit, folder) in revisions.items():
        (repo / "refs" / ref).write_text(commit)
        shutil.copytree(folder, repo / "snapshots" / commit)
    return repo


# Families whose classifier reads [CLS] from BertLayer-like layers: the last layer computes that token only.
FIRST_TOKEN_FAMILIES = ("bert", "roberta", "electra")


def first_token_case(folder: Path, family: str) -> tuple[ModelSpec, Batch]:
    """A tiny ``family`` model without dropout, and 6 rows of 20 tokens, the first 3 padded from token 12
    (the first token must not see that padding either)."""
    path = make_tiny_model(folder / family, family, dropout=0.0)
    inputs = ("input_ids", "attention_mask") + (("token_type_ids",) if family in ("bert", "electra") else ())
    spec = ModelSpec(path=str(path), num_labels=2, regression=False, id2label={0: "0", 1: "1"}, seed=1,
                     inputs=inputs)
    ids = np.random.default_rng(0).integers(5, 60, (6, 20)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[:3, 12:] = 0
    return spec, Batch(ids, mask, np.zeros_like(ids), np.arange(6) % 2, np.arange(6))
