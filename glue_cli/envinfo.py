"""``glue env``: the block a user pastes into a bug report, as ``transformers env`` prints.

It imports each available backend's framework to ask for its devices (seconds): that is the
question a bug report most needs answered.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from glue_cli import PLUGIN_API_VERSION, __version__
from glue_cli.plugins.installation import source_checkout
from glue_cli.plugins.manager import get_backends, get_plugins
from glue_cli.runs.rundir import git_commit
from glue_cli.training.backends import cpu_has_native_bf16

PACKAGES = (
    "transformers", "tokenizers", "safetensors", "numpy", "scikit-learn", "scipy", "torch", "tensorflow",
    "tf-keras", "jax", "jaxlib", "flax", "optax", "datasets", "tensorboard", "matplotlib", "typer", "rich", "pluggy",
)
# Settings that change what glue does; nothing else from the environment (it may hold secrets).
ENV_PREFIXES = ("GLUE_",)
ENV_NAMES = ("HF_HUB_OFFLINE", "CUDA_VISIBLE_DEVICES", "USE_TORCH", "USE_TF", "USE_FLAX", "TF_CPP_MIN_LOG_LEVEL")


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def backend_devices() -> dict[str, Any]:
    """Per backend: its devices, what --amp picks, or why it is not usable here."""
    out: dict[str, Any] = {}
    for backend in get_backends():
        reason = backend.unavailable_reason()
        if reason is not None:
            out[backend.name] = {"available": False, "reason": reason}
            continue
        try:
            out[backend.name] = {"available": True, "devices": backend.devices(), "amp": backend.amp_precision()}
        except Exception as exc:  # a broken driver is exactly what a bug report should show
            out[backend.name] = {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    return out


def collect() -> dict[str, Any]:
    # Read before the backends are asked: probing them sets defaults (TF_CPP_MIN_LOG_LEVEL, USE_*).
    environment = {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES) or k in ENV_NAMES}
    checkout = source_checkout()
    return {
        "glue-cli": __version__,
        "plugin_api": PLUGIN_API_VERSION,
        "installed_from": str(checkout) if checkout else "package",
        "git_commit": git_commit() if checkout else None,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "native_bf16": cpu_has_native_bf16(),
        "packages": package_versions(),
        "backends": backend_devices(),
        "plugins": [
            {"name": i.name, "version": i.version, "origin": i.origin, "error": i.error} for i in get_plugins().infos
        ],
        "environment": environment,
    }


def render(info: dict[str, Any]) -> str:
    """Markdown list lines: they paste into a GitHub issue as they are."""
    lines = [
        f"- glue-cli version: {info['glue-cli']} (plugin API {info['plugin_api']})",
        f"- installed from: {info['installed_from']}"
        + (f" at commit {info['git_commit']}" if info["git_commit"] else ""),
        f"- Python: {info['python']}",
        f"- platform: {info['platform']}",
        f"- CPU: {info['cpu']} ({info['cpu_count']} cores), native bf16: {'yes' if info['native_bf16'] else 'no'}",
    ]
    installed = [f"{name} {version}" for name, version in info["packages"].items() if version]
    missing = [name for name, version in info["packages"].items() if not version]
    lines.append(f"- packages: {', '.join(installed)}")
    if missing:
        lines.append(f"- not installed: {', '.join(missing)}")
    for name, b in info["backends"].items():
        if b["available"]:
            lines.append(f"- backend {name}: devices {', '.join(b['devices'])}; --amp runs {b['amp']}")
        else:
            lines.append(f"- backend {name}: not usable ({b['reason']})")
    plugins = [_plugin(p) for p in info["plugins"]]
    lines.append(f"- plugins: {'; '.join(plugins) or 'none'}")
    env = info["environment"]
    lines.append(f"- environment: {', '.join(f'{k}={v}' for k, v in env.items()) or 'no GLUE_* settings'}")
    return "\n".join(lines)


def _plugin(p: dict[str, Any]) -> str:
    text = f"{p['name']} {p['version']}" if p["version"] else p["name"]
    text += f" ({p['origin']})"
    return text + (f" error: {p['error']}" if p["error"] else "")
