"""The plugin manager: entry points of the ``glue_cli`` group, disabling, broken-plugin isolation."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from typing import Any

import pluggy

from glue_cli import hookspecs

GROUP = "glue_cli"


@dataclass
class PluginInfo:
    """What ``glue plugins`` shows about one plugin."""

    name: str
    version: str | None
    distribution: str | None
    module: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def origin(self) -> str:
        if self.distribution == "glue-cli":
            return "built-in"
        return self.distribution or "local"


@dataclass
class Plugins:
    """The plugin manager with what loading found, kept together."""

    pm: pluggy.PluginManager
    infos: list[PluginInfo]

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def warnings(self) -> list[str]:
        return [f"plugin {i.name!r} failed to load: {i.error}" for i in self.infos if i.error]


def disabled_names() -> set[str]:
    raw = os.environ.get("GLUE_DISABLE_PLUGINS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _load(ep: metadata.EntryPoint, pm: pluggy.PluginManager) -> PluginInfo:
    dist = ep.dist
    info = PluginInfo(
        name=ep.name,
        version=dist.version if dist else None,
        distribution=dist.metadata["Name"] if dist else None,
        module=ep.value,
    )
    try:
        plugin = ep.load()
        pm.register(plugin, name=ep.name)
    except Exception as exc:  # a broken plugin must not break glue itself
        info.error = f"{type(exc).__name__}: {exc}"
        return info
    info.hooks = sorted(impl.name for impl in pm.get_hookcallers(plugin) or [])
    return info


@lru_cache(maxsize=1)
def get_plugins() -> Plugins:
    """Load every installed plugin once per process."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    skip = disabled_names()
    infos: list[PluginInfo] = []
    seen: set[str] = set()
    for ep in metadata.entry_points(group=GROUP):
        # The same distribution can appear twice on sys.path (an editable install plus a build dir).
        if ep.name in skip or ep.name in seen:
            continue
        seen.add(ep.name)
        infos.append(_load(ep, pm))
    if os.environ.get("GLUE_TRACE_PLUGINS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return Plugins(pm, infos)


def _collect(plugins: Plugins, hook_name: str, registry: Any) -> Any:
    """Call one registration hook plugin by plugin, so a failure is pinned on its plugin."""
    from glue_cli.errors import GlueError

    hook = getattr(plugins.pm.hook, hook_name)
    by_name = {i.name: i for i in plugins.infos}
    for impl in hook.get_hookimpls():
        owner = impl.plugin_name
        try:
            impl.function(register=lambda item, owner=owner: registry.register(item, owner))
        except GlueError:
            raise  # two plugins claiming one name: the user must choose
        except Exception as exc:
            info = by_name.get(owner)
            message = f"{hook_name} raised {type(exc).__name__}: {exc}"
            if info is not None:
                info.error = message
            print(f"warning: plugin {owner!r}: {message}", file=sys.stderr)
    return registry


@lru_cache(maxsize=1)
def get_tasks() -> Any:
    """Every task the plugins register (a ``Registry[Task]``)."""
    from glue_cli.tasks import task_registry

    return _collect(get_plugins(), "glue_register_tasks", task_registry())


@lru_cache(maxsize=1)
def get_backends() -> Any:
    """Every backend the plugins register (a ``Registry[Backend]``)."""
    from glue_cli.backends import backend_registry

    return _collect(get_plugins(), "glue_register_backends", backend_registry())
