"""``glue plugins new``: a ready-to-install plugin package (pyproject, module, test, README)."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path

from glue_cli import PLUGIN_API_VERSION
from glue_cli.errors import GlueError
from glue_cli.plugins import scaffold_templates as t

KINDS = ("task", "backend", "reporter")
# PEP 508 distribution names: letters, digits, ".", "-", "_", starting and ending alphanumeric.
DIST_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
# Module names a plugin must not take: they would shadow glue-cli's own packages.
RESERVED = {"glue_cli", "glue_plugins", "glue"}


class ScaffoldError(GlueError):
    """An invalid plugin name or kind, or a folder that would be overwritten."""


@dataclass(frozen=True)
class Names:
    dist: str  # the distribution, as given: acme-sentiment
    module: str  # its import name: acme_sentiment
    name: str  # the plugin's entry point, task or backend name: acme-sentiment

    @property
    def camel(self) -> str:
        return "".join(part.capitalize() for part in self.module.split("_") if part)


def api_range(version: str = PLUGIN_API_VERSION) -> str:
    """The range a new plugin declares: this major version of the plugin API."""
    major = int(version.split(".")[0])
    return f">={major},<{major + 1}"


def names_for(dist: str) -> Names:
    if not DIST_NAME.match(dist):
        raise ScaffoldError(
            f"{dist!r} is not a valid package name.",
            "Use letters, digits, '-', '_' and '.', starting and ending with a letter or digit, e.g. acme-sentiment.",
        )
    module = re.sub(r"[-_.]+", "_", dist).lower()
    if not module.isidentifier() or keyword.iskeyword(module):
        raise ScaffoldError(
            f"{dist!r} gives the module name {module!r}, which Python cannot import.",
            "Start the name with a letter, e.g. glue-" + dist + ".",
        )
    if module in RESERVED:
        raise ScaffoldError(f"{dist!r} would shadow glue-cli's own {module!r} package.", "Pick another name.")
    return Names(dist=dist, module=module, name=dist.lower())


def files_for(kind: str, names: Names) -> dict[str, str]:
    """Relative path -> text of every file of a new ``kind`` plugin."""
    module = names.module
    pyproject = t.PYPROJECT
    if kind == "task":
        files = {
            f"{module}/__init__.py": t.TASK_MODULE,
            f"{module}/data/train.csv": t.TASK_TRAIN_CSV,
            f"{module}/data/dev.csv": t.TASK_DEV_CSV,
            f"tests/test_{module}.py": t.TASK_TEST,
            "README.md": t.TASK_README,
        }
        pyproject += t.TASK_PACKAGE_DATA
        entry = module
    elif kind == "backend":
        files = {f"{module}/__init__.py": t.BACKEND_MODULE, f"tests/test_{module}.py": t.BACKEND_TEST,
                 "README.md": t.BACKEND_README}
        entry = module
    elif kind == "reporter":
        files = {f"{module}/__init__.py": t.REPORTER_MODULE, f"tests/test_{module}.py": t.REPORTER_TEST,
                 "README.md": t.REPORTER_README}
        entry = f"{module}:reporter"
    else:
        raise ScaffoldError(f"Unknown plugin kind {kind!r}.", f"Use one of: {', '.join(KINDS)}.")
    files["pyproject.toml"] = pyproject
    values = {"dist": names.dist, "module": module, "name": names.name, "class": names.camel,
              "api": api_range(), "kind": kind, "entry": entry}
    out = {}
    for path, text in files.items():
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        out[path] = text
    return out


def create(dist: str, kind: str, parent: Path, overwrite: bool = False) -> Path:
    """Write a new plugin package into ``parent/dist``; refuse a non-empty folder unless ``overwrite``."""
    if kind not in KINDS:
        raise ScaffoldError(f"Unknown plugin kind {kind!r}.", f"Use one of: {', '.join(KINDS)}.")
    names = names_for(dist)
    folder = parent / dist
    if folder.exists() and not folder.is_dir():
        raise ScaffoldError(f"{folder} exists and is not a folder.", "Pick another name or --directory.")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise ScaffoldError(f"{folder} already exists and is not empty.", "Pick another name, or pass --overwrite.")
    files = files_for(kind, names)
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder
