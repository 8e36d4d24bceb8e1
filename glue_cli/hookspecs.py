"""The plugin API: every hook a glue-cli plugin can implement, one docstring each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("glue_cli")
hookimpl = pluggy.HookimplMarker("glue_cli")


@hookspec
def glue_register_backends(register: Callable[[Any], None]) -> None:
    """Register training backends: call ``register(backend)`` with an object following ``Backend``."""


@hookspec
def glue_register_tasks(register: Callable[[Any], None]) -> None:
    """Register tasks: call ``register(task)`` with a ``glue_cli.tasks.Task``."""


@hookspec
def glue_register_commands(app: Any) -> None:
    """Add sub-commands to the ``glue`` Typer app."""


@hookspec
def glue_on_event(event: Any) -> None:
    """Receive every training event (``glue_cli.events``); an ``opt_in = True`` plugin only if --report-to names it."""
