"""``glue plugins install/uninstall``: pip, run by the interpreter that runs glue.

``sys.executable -m pip`` puts a plugin where this glue finds it, whichever environment (venv,
pipx, conda) glue lives in; a bare ``pip`` on PATH may belong to another one.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from glue_cli.errors import GlueError


class PipError(GlueError):
    """pip exited with an error (its own output, above, says why)."""


def pip_command(action: str, args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "pip", action, *args]


def install_args(specs: Sequence[str], editable: Sequence[str], upgrade: bool, extra: Sequence[str]) -> list[str]:
    """pip install's arguments: requirement specs, ``-e PATH`` each, then pip options passed through.

    The CLI lets pip's own options through (``--no-build-isolation``, ``--index-url URL``); they may
    arrive among ``specs``, where pip takes them just as well.
    """
    if not [s for s in specs if not s.startswith("-")] and not editable:
        raise GlueError("Nothing to install.", "Name a package (glue plugins install glue-foo) or -e PATH.")
    args = ["--upgrade"] if upgrade else []
    for path in editable:
        args += ["-e", path]
    return [*args, *specs, *extra]


def uninstall_args(names: Sequence[str], yes: bool) -> list[str]:
    if not names:
        raise GlueError("Nothing to uninstall.", "Name the plugin's package, as glue plugins lists it.")
    return [*(["--yes"] if yes else []), *names]


def run_pip(action: str, args: Sequence[str]) -> None:
    """Run pip with the user's terminal attached (its progress and prompts); exit code != 0 is a PipError."""
    command = pip_command(action, args)
    try:
        code = subprocess.call(command)
    except OSError as exc:  # the interpreter vanished, no permission...
        raise PipError(f"Could not run {' '.join(command[:3])}: {exc}.", "") from None
    if code != 0:
        raise PipError(
            f"pip {action} failed (exit code {code}): {' '.join(args)}.",
            "pip's output above says why.",
        )
