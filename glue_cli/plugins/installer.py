"""``glue plugins install/uninstall``: pip, run by the interpreter that runs glue.

``sys.executable -m pip`` puts a plugin where this glue finds it, whichever environment (venv,
pipx, conda) glue lives in; a bare ``pip`` on PATH may belong to another one.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata

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


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def plugin_distributions() -> dict[str, str]:
    """Plugin name -> the distribution that provides it, for every installed ``glue_cli`` entry point."""
    found: dict[str, str] = {}
    for ep in metadata.entry_points(group="glue_cli"):
        if ep.dist is not None:
            found.setdefault(ep.name, ep.dist.metadata["Name"])
    return found


def distributions_to_uninstall(names: Sequence[str], provided: dict[str, str]) -> list[str]:
    """The distributions behind ``names``: a package name as is, a plugin name (as glue plugins lists it)
    mapped to its package. pip alone would skip a plugin name as "not installed" and exit 0."""
    packages = {_normal(dist): dist for dist in provided.values()}
    out: list[str] = []
    for name in names:
        if _normal(name) == "glue-cli":
            raise GlueError("glue plugins uninstall removes plugins, not glue-cli.", "Use pip uninstall glue-cli.")
        if _normal(name) in packages:
            out.append(packages[_normal(name)])
            continue
        dist = provided.get(name) or next((d for p, d in provided.items() if _normal(p) == _normal(name)), None)
        if dist is None:
            listed = ", ".join(f"{p} ({d})" for p, d in sorted(provided.items()) if _normal(d) != "glue-cli")
            raise GlueError(
                f"No installed plugin or plugin package is named {name!r}.",
                f"Installed plugins (package): {listed}." if listed else "No third-party plugin is installed.",
            )
        if _normal(dist) == "glue-cli":
            raise GlueError(
                f"The plugin {name!r} is built into glue-cli; it cannot be uninstalled on its own.",
                f"Turn it off with GLUE_DISABLE_PLUGINS={name}.",
            )
        if dist != name:
            print(f"The plugin {name!r} comes from the package {dist}: uninstalling {dist}.", file=sys.stderr)
        out.append(dist)
    return list(dict.fromkeys(out))


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
