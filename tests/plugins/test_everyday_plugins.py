"""glue plugins uninstall takes the names glue plugins lists; the reporter scaffold's test survives edits;
a task plugin's layout may name JSON Lines files."""

import json
import os
import subprocess
import sys

import pytest

from glue_cli.errors import GlueError
from glue_cli.plugins import installer
from helpers import glue, ok, pip_install_target, setuptools_project, write_files

PROVIDED = {"acme": "glue-acme", "acme-extra": "glue-acme", "torch": "glue-cli", "console": "glue-cli"}


def test_a_plugin_name_maps_to_its_package(capsys):
    assert installer.distributions_to_uninstall(["acme"], PROVIDED) == ["glue-acme"]
    assert "comes from the package glue-acme" in capsys.readouterr().err


def test_a_package_name_is_kept_and_two_plugins_of_one_package_uninstall_it_once():
    assert installer.distributions_to_uninstall(["glue_acme"], PROVIDED) == ["glue-acme"]
    assert installer.distributions_to_uninstall(["acme", "acme-extra"], PROVIDED) == ["glue-acme"]


def test_an_unknown_name_says_which_names_to_use():
    with pytest.raises(GlueError) as raised:
        installer.distributions_to_uninstall(["nope"], PROVIDED)
    assert "No installed plugin or plugin package is named 'nope'" in str(raised.value)
    assert "acme (glue-acme)" in raised.value.hint
    assert "torch" not in raised.value.hint  # built-ins cannot be uninstalled


def test_a_built_in_plugin_points_to_disabling_it():
    with pytest.raises(GlueError) as raised:
        installer.distributions_to_uninstall(["torch"], PROVIDED)
    assert "built into glue-cli" in str(raised.value)
    assert "GLUE_DISABLE_PLUGINS=torch" in raised.value.hint


def test_the_cli_runs_pip_on_the_package_of_a_listed_plugin(tmp_path, monkeypatch):
    project = write_files(tmp_path / "proj", setuptools_project(
        "glue-acme-tools", {"acme-tool": "glue_acme_tools"}, {"glue_acme_tools/__init__.py": ""}))
    monkeypatch.syspath_prepend(str(pip_install_target(tmp_path / "site", project)))
    calls = []
    monkeypatch.setattr(installer, "run_pip", lambda action, args: calls.append((action, list(args))))
    result = ok("plugins", "uninstall", "acme-tool", "-y")
    assert calls == [("uninstall", ["--yes", "glue-acme-tools"])]
    assert "comes from the package glue-acme-tools" in result.stderr
    missing = glue("plugins", "uninstall", "not-a-plugin")
    assert missing.exit_code == 2 and "acme-tool (glue-acme-tools)" in missing.stderr
    assert len(calls) == 1


def test_the_reporter_scaffold_test_passes_after_its_messages_are_edited(tmp_path):
    ok("plugins", "new", "acme-notes", "--kind", "reporter")
    folder = tmp_path / "acme-notes"
    module = folder / "acme_notes" / "__init__.py"
    text = module.read_text()
    edited = text.replace("run finished in", "done after").replace("epoch {event.epoch}", "E{event.epoch}")
    assert edited != text
    module.write_text(edited)
    site = pip_install_target(tmp_path / "site", folder)
    env = {**os.environ, "PYTHONPATH": str(site)}
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
                           env=env, cwd=folder, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr


JSONL_TASK = '''
from pathlib import Path

from glue_cli.plugins.hookspecs import hookimpl
from glue_cli.data.tasks import GlueLayout, Task

DATA = str(Path(__file__).parent / "data")


@hookimpl
def glue_register_tasks(register):
    register(Task(
        name="acme-jsonl", text_fields=("text",), labels=("neg", "pos"), metrics=("accuracy",),
        glue=GlueLayout(folder="ACME", files={"train": "train.jsonl", "validation": "dev.jsonl",
                                                 "test": "test.jsonl"},
                        text_columns=("review",), label_column="stars", index_column="id"),
        data_dir=DATA,
    ))
'''


def jsonl(rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def jsonl_task(tmp_path, monkeypatch):
    reviews = [{"review": f"review number {i} was {'great' if i % 2 else 'awful'}", "stars": ["neg", "pos"][i % 2]}
               for i in range(12)]
    files = {"glue_acme_jsonl/__init__.py": JSONL_TASK,
             "glue_acme_jsonl/data/train.jsonl": jsonl(reviews),
             "glue_acme_jsonl/data/dev.jsonl": jsonl(reviews[:6]),
             "glue_acme_jsonl/data/test.jsonl": jsonl([{"id": f"t{i}", "review": r["review"]}
                                                      for i, r in enumerate(reviews[:5])])}
    project = write_files(tmp_path / "proj", setuptools_project("glue-acme-jsonl", {"acme-jsonl": "glue_acme_jsonl"},
                                                                 files))
    (tmp_path / "proj" / "MANIFEST.in").write_text("recursive-include glue_acme_jsonl/data *.jsonl\n")
    site = pip_install_target(tmp_path / "site", project)
    data = site / "glue_acme_jsonl" / "data"
    if not data.is_dir():  # setuptools took only the .py files: put the data beside the module
        for name in ("train.jsonl", "dev.jsonl", "test.jsonl"):
            data.mkdir(exist_ok=True)
            (data / name).write_text((project / "glue_acme_jsonl" / "data" / name).read_text())
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "glue_acme_jsonl", raising=False)  # another test's copy
    return data


def test_a_task_plugin_reads_jsonl_layout_files(jsonl_task):
    from glue_cli.data import sources
    from glue_cli.plugins.manager import get_tasks
    from helpers import reset_plugins

    reset_plugins()
    task = get_tasks().get("acme-jsonl")
    splits = sources.read_named_splits(task, None, ["train", "validation", "test"])
    assert splits["train"].texts[1] == ("review number 1 was great",)
    assert list(splits["train"].labels[:4]) == [0, 1, 0, 1]
    assert splits["test"].ids == ["t0", "t1", "t2", "t3", "t4"]
    assert splits["test"].labels is None


def test_a_bad_jsonl_layout_row_names_file_and_line(jsonl_task):
    (jsonl_task / "dev.jsonl").write_text('{"review": "fine", "stars": "pos"}\n{"review": "x", "stars": "meh"}\n')
    result = glue("train", "acme-jsonl", "--epochs", "1")
    assert result.exit_code == 2
    assert "dev.jsonl:2: unknown label 'meh'" in result.stderr
