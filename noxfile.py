"""The test matrix: one session per backend, plus lint. ``nox`` runs them all."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
CONSTRAINTS = ("-c", "constraints.txt")
# Each backend's session installs only that backend's framework (the bundled model's package
# pulls torch in through sentence-transformers for now; tests needing torch importorskip it).
BACKENDS = {"torch": "torch", "tf": "tf", "flax": "flax"}


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install(*CONSTRAINTS, "ruff")
    session.run("ruff", "check", "glue_cli", "glue_plugins", "tests", "noxfile.py")


# Backends whose slow real-model tests have not yet passed on the CI machine: their sessions run
# the fast tests by default; run the slow ones with: nox -s "tests(backend='tf')" -- -m slow tests
SLOW_UNVERIFIED = {"tf", "flax"}


@nox.session(python=PYTHON)
@nox.parametrize("backend", list(BACKENDS))
def tests(session: nox.Session, backend: str) -> None:
    """Fast tests, then the slow real-model tests (pass -- -m "not slow" tests to skip those)."""
    session.install(*CONSTRAINTS, "-e", f".[{BACKENDS[backend]},test]")
    default = ["-m", "not slow", "tests"] if backend in SLOW_UNVERIFIED else ["tests"]
    session.run("pytest", "-q", *(session.posargs or default))
