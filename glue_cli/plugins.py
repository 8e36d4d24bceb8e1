"""The plugin manager: entry points of the ``glue_cli`` group, the API-version check, disabling,
broken-plugin isolation."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from typing import Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from glue_cli import PLUGIN_API_VERSION, hookspecs

GROUP = "glue_cli"
# A plugin module may declare the plugin API versions it works with, a PEP 440 specifier: ">=1,<2".
API_ATTRIBUTE = "GLUE_CLI_API"


@dataclass
class PluginInfo:
    """What ``glue plugins`` shows about one plugin."""

    name: str
    version: str | None
    distribution: str | None
    module: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    # Loaded but written for another plugin API: not registered, its error names the plugin.
    incompatible: bool = False
    # A hook of it raised and that was printed as it happened: no second warning.
    reported: bool = False

    @property
    def warning(self) -> str | None:
        """The one line that tells a user this plugin is not (fully) in use."""
        if self.error is None or self.incompatible:
            return self.error
        if not self.hooks:
            return f"plugin {self.name!r} failed to load: {self.error}"
        return f"plugin {self.name!r}: {self.error}"

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
        """One line per plugin that is not in use, or only partly (a hook raised)."""
        return [i.warning for i in self.infos if i.warning and not i.reported]


def disabled_names() -> set[str]:
    raw = os.environ.get("GLUE_DISABLE_PLUGINS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def declared_api(plugin: object, module: str) -> str | None:
    """The ``GLUE_CLI_API`` a plugin declares: on the entry point's object, else on its module."""
    declared = getattr(plugin, API_ATTRIBUTE, None)
    if declared is None:
        declared = getattr(sys.modules.get(module), API_ATTRIBUTE, None)
    return None if declared is None else str(declared)


def api_mismatch(name: str, declared: str | None, provided: str | None = None) -> str | None:
    """Why plugin ``name`` cannot be used with this glue-cli's plugin API, or None when it can.

    A plugin that declares nothing is assumed to follow the current API (the API's first version
    had no declaration at all).
    """
    if declared is None:
        return None
    provided = provided or PLUGIN_API_VERSION
    try:
        accepted = SpecifierSet(declared)
    except InvalidSpecifier:
        return (
            f"plugin {name!r} declares {API_ATTRIBUTE} = {declared!r}, which is not a version range "
            f"(write one like \">=1,<2\")"
        )
    if accepted.contains(provided, prereleases=True):
        return None
    return (
        f"plugin {name!r} requires glue-cli plugin API {declared}, but this glue-cli provides "
        f"{provided}: upgrade the plugin or glue-cli"
    )


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
    except Exception as exc:  # a broken plugin must not break glue itself
        info.error = f"{type(exc).__name__}: {exc}"
        return info
    # Checked before registering: a plugin written for another API must never have its hooks
    # called, where a changed signature would fail deep inside a training run.
    info.error = api_mismatch(ep.name, declared_api(plugin, ep.module))
    if info.error is not None:
        info.incompatible = True
        return info
    try:
        pm.register(plugin, name=ep.name)
    except Exception as exc:  # e.g. a hook implementation whose arguments no hook has
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


def trace(owner: str, hook_name: str, detail: str = "") -> None:
    """With GLUE_TRACE_PLUGINS set, one stderr line per hook call glue makes plugin by plugin.

    pluggy's own tracing only sees calls through ``pm.hook``; the registration hooks and events
    are called implementation by implementation (to pin a failure on its plugin), so they say it here.
    """
    if os.environ.get("GLUE_TRACE_PLUGINS"):
        print(f"glue-trace: {owner}.{hook_name}({detail})", file=sys.stderr)


def _record_failure(plugins: Plugins, owner: str, hook_name: str, exc: Exception) -> None:
    message = f"{hook_name} raised {type(exc).__name__}: {exc}"
    info = next((i for i in plugins.infos if i.name == owner), None)
    if info is not None:
        # Every failing hook stays listed in glue plugins, not only the last one.
        info.error = message if info.error is None else f"{info.error}; {message}"
        info.reported = True
    print(f"warning: plugin {owner!r}: {message}", file=sys.stderr)


def register_commands(plugins: Plugins, app: Any) -> None:
    """Let each plugin add its sub-commands; one that raises is warned about, the others still run."""
    for impl in plugins.pm.hook.glue_register_commands.get_hookimpls():
        trace(impl.plugin_name, "glue_register_commands")
        try:
            impl.function(app=app)
        except Exception as exc:
            _record_failure(plugins, impl.plugin_name, "glue_register_commands", exc)


def _collect(plugins: Plugins, hook_name: str, registry: Any) -> Any:
    """Call one registration hook plugin by plugin, so a failure is pinned on its plugin."""
    from glue_cli.errors import GlueError

    hook = getattr(plugins.pm.hook, hook_name)
    for impl in hook.get_hookimpls():
        owner = impl.plugin_name
        trace(owner, hook_name)
        try:
            impl.function(register=lambda item, owner=owner: registry.register(item, owner))
        except GlueError:
            raise  # two plugins claiming one name: the user must choose
        except Exception as exc:
            _record_failure(plugins, owner, hook_name, exc)
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
