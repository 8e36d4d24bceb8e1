"""Fixtures for every test folder (core/, backends/, plugins/), and which tests a nox session runs.

Helpers live in helper modules beside this file (helpers, leaderboard, glue_fixtures, tinymodel);
test files import those, never each other.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# One pytest process runs several backends, but transformers reads USE_TORCH/USE_TF/USE_FLAX once,
# at import: "AUTO" (kept by only_framework's setdefault) lets it load every installed framework.
for _switch in ("USE_TORCH", "USE_TF", "USE_FLAX"):
    os.environ.setdefault(_switch, "AUTO")

from glue_cli.training.tinymodel import make_tiny_bert  # noqa: E402
from helpers import FAST, FRAMEWORK_MODULES, MINILM_RECIPE, Result, framework_installed, glue_dir, isolated, ok  # noqa: E402

# Tests that name no backend run on the default (torch) or, where torch is absent (the tf and
# flax nox sessions), on the backend that is installed: looked up once per test session.
INSTALLED_BACKENDS = [backend for backend in FRAMEWORK_MODULES if framework_installed(backend)]
DEFAULT_BACKEND = None if not INSTALLED_BACKENDS or "torch" in INSTALLED_BACKENDS else INSTALLED_BACKENDS[0]

# Set by noxfile.py's tests(backend=...) sessions; not GLUE_-prefixed, since tests clear those.
NOX_BACKEND = os.environ.get("NOX_BACKEND")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the backend it exercises, and keep a nox session's tests to its share.

    A test exercises a backend when its file is marked so (``pytestmark = pytest.mark.tf`` in
    tests/backends/test_tf.py) or when it is parametrized over ``backend``. Under ``NOX_BACKEND``:
    the tf and flax sessions run their backend's tests; the torch session runs its own and every
    test that names no backend (the core, plugins and reporters, which train on the default
    backend, torch), so those run once, not three times; tests marked ``every_session`` (what each
    backend must hold without the other frameworks) run in all three.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec is not None else None
        if backend in FRAMEWORK_MODULES:
            item.add_marker(backend)
    if not NOX_BACKEND:
        return
    keep, drop = [], []
    for item in items:
        marked = {name for name in FRAMEWORK_MODULES if item.get_closest_marker(name)}
        if item.get_closest_marker("every_session"):
            runs_here = True
        elif NOX_BACKEND == "torch":
            runs_here = marked <= {"torch"}
        else:
            runs_here = NOX_BACKEND in marked
        (keep if runs_here else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def real_glue() -> Path:
    path = glue_dir()
    if path is None:
        pytest.skip("real GLUE data not found: set GLUE_DIR")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path) -> Iterator[None]:
    """Each test gets its own cache and working folder; no hub access, ever."""
    with isolated(tmp_path, DEFAULT_BACKEND):
        yield


@pytest.fixture(scope="session")
def fast_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, real_glue: Path
) -> Callable[[str, int], tuple[Result, Path]]:
    """``fast_run(backend, epochs)``: one ``glue train mrpc --json`` on the FAST settings and the tiny
    model, trained once per test session and shared by the tests that only read it (its result and
    run directory): a test that changes the run trains its own."""
    runs: dict[tuple[str, int], tuple[Result, Path]] = {}

    def run(backend: str, epochs: int) -> tuple[Result, Path]:
        if (backend, epochs) not in runs:
            work = tmp_path_factory.mktemp(f"{backend}-{epochs}-epochs")
            with isolated(work, DEFAULT_BACKEND):
                result = ok("train", "mrpc", "--backend", backend, "--model", str(tiny_model), "--output-dir",
                            str(work / "run"), *FAST, "--epochs", str(epochs), "--json")
            runs[backend, epochs] = result, work / "run"
        return runs[backend, epochs]

    return run


@pytest.fixture(scope="session")
def minilm_run(tmp_path_factory: pytest.TempPathFactory, real_glue: Path) -> Callable[[str], tuple[Result, Path]]:
    """``minilm_run(backend)``: ``glue train mrpc --json`` of the real MiniLM on MINILM_RECIPE, trained
    once per test session (minutes) and shared by the slow tests that read it: the real-model check
    and the one-worker side of the data-parallel comparison."""
    runs: dict[str, tuple[Result, Path]] = {}

    def run(backend: str) -> tuple[Result, Path]:
        if backend not in runs:
            work = tmp_path_factory.mktemp(f"minilm-{backend}")
            with isolated(work, DEFAULT_BACKEND):
                result = ok("train", "mrpc", "--backend", backend, *MINILM_RECIPE, "--output-dir",
                            str(work / "run"), "--json")
            runs[backend] = result, work / "run"
        return runs[backend]

    return run
