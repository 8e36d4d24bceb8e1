"""Which reporters a run feeds: the always-on ones, plus the opt-in ones ``--report-to`` names.

A reporter is any plugin implementing ``glue_on_event``. One whose plugin object has
``opt_in = True`` (TensorBoard, a third party's W&B...) is called only in runs whose
``--report-to`` names it (its entry-point name); the others (console, history) always run.
Like a backend, an opt-in reporter may define ``unavailable_reason() -> str | None`` (its
package is missing, say) and ``install_hint``: a named reporter that is not usable stops the
run before any work, in one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

from glue_cli.errors import ConfigError, UnknownNameError
from glue_cli.plugins.registry import normalize

# `--report-to none` turns off opt-in reporters a config file or GLUE_REPORT_TO asked for.
NONE = "none"


def is_opt_in(plugin: Any) -> bool:
    return getattr(plugin, "opt_in", False) is True


def reporters(pm: pluggy.PluginManager) -> dict[str, Any]:
    """Every plugin implementing ``glue_on_event``, by plugin name."""
    return {impl.plugin_name: impl.plugin for impl in pm.hook.glue_on_event.get_hookimpls()}


def enabled_reporters(names: Iterable[str], pm: pluggy.PluginManager) -> frozenset[str]:
    """The opt-in reporters ``names`` turn on (plugin names), checked usable, for ``EventSink``."""
    found = reporters(pm)
    opt_in = {normalize(name): name for name, plugin in found.items() if is_opt_in(plugin)}
    always = {normalize(name) for name, plugin in found.items() if not is_opt_in(plugin)}
    enabled: set[str] = set()
    for name in names:
        key = normalize(name)
        if key == NONE or key in always:  # naming an always-on reporter changes nothing
            continue
        if key not in opt_in:
            choices = ", ".join([*sorted(opt_in.values()), NONE])
            running = ", ".join(sorted(n for n, p in found.items() if not is_opt_in(p)))
            raise UnknownNameError(
                f"Unknown reporter {name!r} in --report-to: choose from {choices}",
                f"({running} always run).",
            )
        plugin_name = opt_in[key]
        check = getattr(found[plugin_name], "unavailable_reason", None)
        reason = check() if callable(check) else None
        if reason:
            hint = getattr(found[plugin_name], "install_hint", "")
            raise ConfigError(f"The {plugin_name} reporter is not usable here: {reason}.", hint)
        enabled.add(plugin_name)
    return frozenset(enabled)
