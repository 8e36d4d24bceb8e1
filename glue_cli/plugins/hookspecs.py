"""The plugin API: every hook a glue-cli plugin can implement, one docstring each.

Plugins import ``hookimpl`` (and everything else they need) from ``glue_cli.api``. A ``glue_*``
function marked ``@hookimpl`` whose name is not one of these hooks is that plugin's error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # glue_cli.training.events imports the plugin manager, which imports this module
    import typer

    from glue_cli.data.tasks import Task
    from glue_cli.training.backends import Backend
    from glue_cli.training.events import Event

hookspec = pluggy.HookspecMarker("glue_cli")
hookimpl = pluggy.HookimplMarker("glue_cli")


@hookspec
def glue_register_backends(register: Callable[[Backend], None]) -> None:
    """Register training backends: call ``register(backend)`` with an object following ``Backend``."""


@hookspec
def glue_register_tasks(register: Callable[[Task], None]) -> None:
    """Register tasks: call ``register(task)`` with a ``Task``."""


@hookspec
def glue_register_commands(app: typer.Typer) -> None:
    """Add sub-commands to the ``glue`` Typer app."""


@hookspec
def glue_on_event(event: Event) -> None:
    """Receive every training event (an ``Event``); an ``opt_in = True`` plugin only if --report-to names it."""
