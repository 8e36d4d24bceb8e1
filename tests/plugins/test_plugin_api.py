"""glue_cli.api is the one module plugins import: every name it lists exists, and no plugin code
(glue-cli's own plugins, the test plugin, the docs' examples, the scaffolds) imports from elsewhere."""

import ast
import re
import subprocess
import sys

import glue_cli
from glue_cli import api
from glue_cli.plugins.scaffold import KINDS, files_for, names_for
from helpers import REPO

ROOT = REPO


def test_every_name_in_all_exists_once():
    assert len(api.__all__) == len(set(api.__all__))
    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert not missing
    assert api.PLUGIN_API_VERSION == glue_cli.PLUGIN_API_VERSION
    assert {"hookimpl", "Task", "GlueLayout", "Backend", "Engine", "ModelSpec", "Batch", "Event", "RunStarted",
            "GlueError", "ModelError", "decays", "OptimizerSettings", "FRAMEWORKS"} <= set(api.__all__)


def plugin_sources():
    """(where, Python source) of every piece of plugin code glue-cli ships or documents."""
    for path in sorted([*(ROOT / "glue_plugins").rglob("*.py"), *(ROOT / "tests" / "fixtures").rglob("*.py")]):
        yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")
    doc = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    for i, block in enumerate(re.findall(r"```python\n(.*?)\n```", doc, re.DOTALL)):
        yield f"docs/plugins.md python block {i + 1}", block
    for kind in KINDS:
        for path, text in files_for(kind, names_for("acme-thing")).items():
            if path.endswith(".py"):
                yield f"glue plugins new --kind {kind}: {path}", text


def foreign_imports(source):
    """``line: import`` of every import of glue-cli that is not of ``glue_cli.api``'s listed names."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] == "glue_cli" and a.name != "glue_cli.api"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [a.name for a in node.names]
            if node.module == "glue_cli":
                found += [f"{node.lineno}: from glue_cli import {n}" for n in names if n != "api"]
            elif node.module == "glue_cli.api":
                found += [f"{node.lineno}: from glue_cli.api import {n} (not in __all__)" for n in names
                          if n not in api.__all__]
            elif node.module.split(".")[0] == "glue_cli":
                found.append(f"{node.lineno}: from {node.module} import {', '.join(names)}")
    return found


def test_plugin_code_imports_only_from_glue_cli_api():
    sources = dict(plugin_sources())
    # What the scan covers: the first-party plugins, glue-acme, both worked examples, all scaffolds.
    assert "glue_plugins/torch_backend/engine.py" in sources
    assert "tests/fixtures/glue-acme/glue_acme/__init__.py" in sources
    assert sum(where.startswith("docs/") for where in sources) >= 2
    assert sum(where.startswith("glue plugins new") for where in sources) == 2 * len(KINDS)
    offenders = {where: bad for where, source in sources.items() if (bad := foreign_imports(source))}
    assert offenders == {}


def test_the_scan_catches_what_it_must():
    assert foreign_imports("from glue_cli.plugins.hookspecs import hookimpl\n") == [
        "1: from glue_cli.plugins.hookspecs import hookimpl"]
    assert foreign_imports("from glue_cli import events\nimport glue_cli.data.tasks\n") == [
        "1: from glue_cli import events", "2: import glue_cli.data.tasks"]
    assert foreign_imports("def f():\n    from glue_cli.api import _private\n") == [
        "2: from glue_cli.api import _private (not in __all__)"]
    assert foreign_imports("from glue_cli.api import Task\nfrom glue_cli import api\nimport glue_cli.api\n") == []


def test_importing_the_api_loads_no_framework():
    code = ("import sys, glue_cli.api; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'jax', 'flax', 'transformers') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_conformance_suite_and_base_classes_are_part_of_the_api():
    from glue_cli import testing
    from glue_cli.training import backends, engine_base

    assert api.check_backend is testing.check_backend
    assert api.BackendBase is backends.BackendBase and api.EngineBase is engine_base.EngineBase
