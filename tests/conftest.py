from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# One pytest process runs several backends, but transformers reads USE_TORCH/USE_TF/USE_FLAX once,
# at import: "AUTO" (kept by only_framework's setdefault) lets it load every installed framework.
for _switch in ("USE_TORCH", "USE_TF", "USE_FLAX"):
    os.environ.setdefault(_switch, "AUTO")

from glue_cli.tinymodel import make_tiny_bert  # noqa: E402
from helpers import FRAMEWORK_MODULES, framework_installed  # noqa: E402

# Tests that name no backend run on the default (torch) or, where torch is absent (the tf and
# flax nox sessions), on the backend that is installed: looked up once per test session.
INSTALLED_BACKENDS = [backend for backend in FRAMEWORK_MODULES if framework_installed(backend)]

REPO = Path(__file__).resolve().parent.parent
SHARED_GLUE = REPO.parent / "shared" / "glue"


def glue_dir() -> Path | None:
    """$GLUE_DIR, else ../shared/glue beside the checkout, else None."""
    env = os.environ.get("GLUE_DIR")
    if env and Path(env).is_dir():
        return Path(env)
    return SHARED_GLUE if SHARED_GLUE.is_dir() else None


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
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own cache and working folder; no hub access, ever."""
    monkeypatch.setenv("GLUE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    for name in list(os.environ):
        if name.startswith("GLUE_") and name not in {"GLUE_CACHE_DIR", "GLUE_DIR"}:
            monkeypatch.delenv(name)
    path = glue_dir()
    if path is not None:
        monkeypatch.setenv("GLUE_DIR", str(path))
    if INSTALLED_BACKENDS and "torch" not in INSTALLED_BACKENDS:
        monkeypatch.setenv("GLUE_BACKEND", INSTALLED_BACKENDS[0])
    monkeypatch.chdir(tmp_path)
