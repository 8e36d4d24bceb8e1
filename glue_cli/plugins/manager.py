"""The plugin manager: entry points of the ``glue_cli`` group, the API-version check, disabling,
broken-plugin isolation, and pinning a plugin's exception on the plugin."""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from types import FrameType
from typing import Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from glue_cli import PLUGIN_API_VERSION
from glue_cli.plugins import hookspecs

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
    # Everything wrong with the plugin, in the order found: each is listed by glue plugins.
    problems: list[str] = field(default_factory=list)
    # Loaded but written for another plugin API: not registered, its error names the plugin.
    incompatible: bool = False
    # Registered with the plugin manager (its hooks, the valid ones, are called).
    registered: bool = False
    # Problems already printed as a warning when they happened (a hook that raised): not again.
    shown: set[str] = field(default_factory=set)

    @property
    def error(self) -> str | None:
        return "; ".join(self.problems) or None

    def add_problem(self, message: str) -> None:
        self.problems.append(message)

    @property
    def warning(self) -> str | None:
        """The one line that tells a user this plugin is not (fully) in use, or None."""
        pending = "; ".join(p for p in self.problems if p not in self.shown)
        if not pending or self.incompatible:
            return pending or None
        if not self.registered:
            return f"plugin {self.name!r} failed to load: {pending}"
        return f"plugin {self.name!r}: {pending}"

    @property
    def origin(self) -> str:
        if self.distribution == "glue-cli":
            return "built-in"
        return self.distribution or "local"

    @property
    def module_name(self) -> str:
        """The module the entry point names (without its ``:object``)."""
        return self.module.split(":", 1)[0].strip()


@dataclass
class Plugins:
    """The plugin manager with what loading found, kept together."""

    pm: pluggy.PluginManager
    infos: list[PluginInfo]

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def warnings(self) -> list[str]:
        """One line per plugin that is not in use, or only partly, and was not warned about yet."""
        return [line for line in (i.warning for i in self.infos) if line]

    def info(self, name: str) -> PluginInfo | None:
        return next((i for i in self.infos if i.name == name), None)


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


# Every hook glue declares (pluggy marks each spec with a "<project>_spec" attribute).
HOOK_NAMES = tuple(sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), f"{GROUP}_spec")))


def hook_problems(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """What is wrong with a registered plugin's hook implementations, one sentence each.

    Unknown hooks follow pluggy's ``check_pending`` rule (an implementation without a spec that is
    not ``optionalhook``), applied to this plugin alone so the others stay unaffected. Hook
    wrappers are reported too: glue calls every implementation on its own (to pin a failure on
    its plugin), so a wrapper would never run.
    """
    problems = []
    for caller in pm.get_hookcallers(plugin) or []:
        impls = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
        if not caller.has_spec():
            if any(not impl.optionalhook for impl in impls):
                close = difflib.get_close_matches(caller.name, HOOK_NAMES, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]}?" if close else f"the hooks are {', '.join(HOOK_NAMES)}"
                problems.append(f"unknown hook {caller.name} ({hint}); it is never called")
        elif any(impl.hookwrapper or impl.wrapper for impl in impls):
            problems.append(f"{caller.name} is a hook wrapper, which glue never calls (drop wrapper=True)")
    return sorted(problems)


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
        info.add_problem(f"{type(exc).__name__}: {exc}")
        return info
    # Checked before registering: a plugin written for another API must never have its hooks
    # called, where a changed signature would fail deep inside a training run.
    mismatch = api_mismatch(ep.name, declared_api(plugin, ep.module))
    if mismatch is not None:
        info.add_problem(mismatch)
        info.incompatible = True
        return info
    try:
        pm.register(plugin, name=ep.name)
    except Exception as exc:  # e.g. a hook implementation whose arguments no hook has
        info.add_problem(f"{type(exc).__name__}: {exc}")
        # pluggy has added the implementations before the failing one: none of them may run.
        if pm.get_plugin(ep.name) is not None:
            pm.unregister(name=ep.name)
        return info
    info.registered = True
    # A plugin with a misspelled hook stays registered: its valid hooks work as written, the
    # misspelled one could never be called anyway, and glue plugins shows the mistake.
    for problem in hook_problems(pm, plugin):
        info.add_problem(problem)
    info.hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or [] if c.has_spec())
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


def call_order(pm: pluggy.PluginManager, hook_name: str) -> list[pluggy.HookImpl]:
    """The implementations of a hook in the order pluggy would call them (``tryfirst`` first,
    then the last registered first, ``trylast`` last), for glue's one-by-one calls."""
    caller = getattr(pm.hook, hook_name)
    return [impl for impl in reversed(caller.get_hookimpls()) if not (impl.hookwrapper or impl.wrapper)]


def _record_failure(plugins: Plugins, owner: str, message: str) -> None:
    """A plugin's problem found while glue runs: listed by glue plugins, printed once now."""
    info = plugins.info(owner)
    if info is not None:
        # Every problem stays listed in glue plugins, not only the last one.
        info.add_problem(message)
        info.shown.add(message)
    print(f"warning: plugin {owner!r}: {message}", file=sys.stderr)


def register_commands(plugins: Plugins, app: Any) -> None:
    """Let each plugin add its sub-commands; one that raises is warned about, the others still run."""
    for impl in call_order(plugins.pm, "glue_register_commands"):
        trace(impl.plugin_name, "glue_register_commands")
        try:
            impl.function(app=app)
        except Exception as exc:
            _record_failure(plugins, impl.plugin_name, f"glue_register_commands raised {type(exc).__name__}: {exc}")


def _collect(
    plugins: Plugins, hook_name: str, registry: Any, refuse: Callable[[Any], str | None] | None = None
) -> Any:
    """Call one registration hook plugin by plugin, so a failure is pinned on its plugin.

    ``refuse(item)`` says why an item must not be registered (or None): that is the plugin's
    problem, reported like a hook that raised, and its other items still register.
    """
    from glue_cli.errors import GlueError

    for impl in call_order(plugins.pm, hook_name):
        owner = impl.plugin_name

        def register(item: Any, owner: str = owner) -> None:
            problem = refuse(item) if refuse is not None else None
            if problem is not None:
                _record_failure(plugins, owner, f"{hook_name}: {problem}; not registered")
                return
            registry.register(item, owner)

        trace(owner, hook_name)
        try:
            impl.function(register=register)
        except GlueError:
            raise  # two plugins claiming one name: the user must choose
        except Exception as exc:
            _record_failure(plugins, owner, f"{hook_name} raised {type(exc).__name__}: {exc}")
    return registry


@lru_cache(maxsize=1)
def get_tasks() -> Any:
    """Every task the plugins register (a ``Registry[Task]``)."""
    from glue_cli.data.tasks import task_registry

    return _collect(get_plugins(), "glue_register_tasks", task_registry())


@lru_cache(maxsize=1)
def get_backends() -> Any:
    """Every backend the plugins register (a ``Registry[Backend]``); one with an unknown framework is refused."""
    from glue_cli.training.backends import backend_registry, registration_problem

    return _collect(get_plugins(), "glue_register_backends", backend_registry(), registration_problem)


@dataclass(frozen=True)
class PluginFailure:
    """An exception raised by a plugin's code while glue served a command."""

    plugin: str
    # The function or method glue called into the plugin: ``TorchBackend.create``.
    where: str
    exception: BaseException
    info: PluginInfo | None = None

    def line(self) -> str:
        """One line: the plugin, where, what (the message's first line)."""
        exc = self.exception
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        what = type(exc).__name__
        if lines:
            what += f": {lines[0]}" + (" ..." if len(lines) > 1 else "")
        source = ""
        if self.info is not None and self.info.distribution:
            source = f" ({' '.join(filter(None, (self.info.distribution, self.info.version)))})"
        return f"plugin {self.plugin!r}{source} failed in {self.where}: {what}"


def _owners(infos: Iterable[PluginInfo]) -> dict[str, str]:
    """Module (or package) name -> the plugin it belongs to.

    A plugin owns its entry point's module and everything below it; also its top-level package
    when that package is its distribution's own and holds no other plugin's entry point
    (``glue_plugins`` holds several, so there each plugin owns only its own module or package).
    """
    infos = list(infos)
    owners = {i.module_name: i.name for i in infos}
    per_top: dict[str, set[str]] = {}
    for i in infos:
        per_top.setdefault(i.module_name.split(".")[0], set()).add(i.name)
    distributions = metadata.packages_distributions()
    for i in infos:
        top = i.module_name.split(".")[0]
        if len(per_top[top]) == 1 and i.distribution in distributions.get(top, ()):
            owners.setdefault(top, i.name)
    return owners


def _owner(module: str, owners: dict[str, str]) -> str | None:
    best = None
    for prefix, plugin in owners.items():
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, plugin)
    return best[1] if best else None


def _is_core(module: str) -> bool:
    return module == "glue_cli" or module.startswith("glue_cli.")


def blame(exc: BaseException, infos: Iterable[PluginInfo]) -> PluginFailure | None:
    """The plugin whose code raised ``exc``, from its traceback; None when no plugin's code is in it.

    The deepest frame in a plugin's modules names the plugin (a framework's error inside a
    backend's ``create`` is that backend's); walking up from it to where glue's core called in
    names the hook or method.
    """
    infos = list(infos)
    owners = _owners(infos)
    frames: list[FrameType] = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    modules = [str(f.f_globals.get("__name__", "")) for f in frames]
    owned = [_owner(m, owners) if not _is_core(m) else None for m in modules]
    deepest = next((i for i in reversed(range(len(frames))) if owned[i] is not None), None)
    if deepest is None:
        return None
    plugin = owned[deepest]
    assert plugin is not None
    entry = deepest
    for i in reversed(range(deepest)):
        if _is_core(modules[i]):
            break
        if owned[i] == plugin:
            entry = i
    where = frames[entry].f_code.co_qualname
    info = next((i for i in infos if i.name == plugin), None)
    return PluginFailure(plugin, where, exc, info)
