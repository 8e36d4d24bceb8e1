"""glue plugins new / install / uninstall."""

import json
import os
import subprocess
import sys
import tomllib

import pytest

from helpers import glue, ok, one_line_error, pip_install_target


@pytest.mark.parametrize(
    ("kind", "entry", "hook"),
    [("task", "acme_thing", "glue_register_tasks"), ("backend", "acme_thing", "glue_register_backends"),
     ("reporter", "acme_thing:reporter", "glue_on_event")],
)
def test_new_writes_an_installable_package(kind, entry, hook, tmp_path):
    ok("plugins", "new", "acme-thing", "--kind", kind)
    folder = tmp_path / "acme-thing"
    assert {"pyproject.toml", "README.md", "acme_thing/__init__.py", "tests/test_acme_thing.py"} <= {
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
    }
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["name"] == "acme-thing"
    assert project["project"]["entry-points"]["glue_cli"] == {"acme-thing": entry}
    assert 'GLUE_CLI_API = ">=2,<3"' in (folder / "acme_thing" / "__init__.py").read_text()
    site = pip_install_target(tmp_path / "site", folder)
    if kind == "task":  # the data files travel with the module
        assert (site / "acme_thing" / "data" / "train.csv").is_file()
    env = {**os.environ, "PYTHONPATH": str(site)}
    listing = subprocess.run([sys.executable, "-m", "glue_cli", "plugins", "--json"], env=env, check=True,
                             capture_output=True, text=True)
    row = next(r for r in json.loads(listing.stdout) if r["name"] == "acme-thing")
    assert row["error"] is None and row["hooks"] == [hook]
    # The package's own tests pass as generated (the backend's conformance test skips itself until
    # the backend is implemented).
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
                           env=env, cwd=folder, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr


def test_the_backend_skeleton_says_it_is_not_implemented(tmp_path, monkeypatch):
    ok("plugins", "new", "acme-turbo", "--kind", "backend")
    monkeypatch.syspath_prepend(str(pip_install_target(tmp_path / "site", tmp_path / "acme-turbo")))
    row = next(r for r in ok("backends", "--json").json() if r["name"] == "acme-turbo")
    assert row["available"] is False
    assert "not implemented yet" in row["reason"]


def test_new_into_another_directory(tmp_path):
    ok("plugins", "new", "glue-x", "--kind", "reporter", "--directory", tmp_path / "work")
    assert (tmp_path / "work" / "glue-x" / "glue_x" / "__init__.py").is_file()


@pytest.mark.parametrize(
    ("name", "needle"),
    [("acme-", "is not a valid package name"), ("acme sentiment", "is not a valid package name"),
     ("acme!", "is not a valid package name"), ("9lives", "which Python cannot import"),
     ("glue-cli", "shadow glue-cli's own"), ("class", "which Python cannot import")],
)
def test_invalid_names_are_refused(name, needle, tmp_path):
    one_line_error(glue("plugins", "new", name), needle)
    assert not any(tmp_path.iterdir())


def test_unknown_kind_is_refused():
    one_line_error(glue("plugins", "new", "acme", "--kind", "trainer"), "Unknown plugin kind 'trainer'",
                   "task, backend, reporter")


def test_a_non_empty_folder_is_kept_unless_overwrite(tmp_path):
    (tmp_path / "acme").mkdir()
    ok("plugins", "new", "acme")  # an empty folder is fine
    (tmp_path / "acme" / "README.md").write_text("mine")
    one_line_error(glue("plugins", "new", "acme", "--kind", "reporter"), "already exists and is not empty",
                   "--overwrite")
    assert (tmp_path / "acme" / "README.md").read_text() == "mine"
    ok("plugins", "new", "acme", "--kind", "reporter", "--overwrite")
    assert "reporter plugin" in (tmp_path / "acme" / "README.md").read_text()


def test_install_passes_pip_options_through_and_uses_this_python(tmp_path):
    ok("plugins", "new", "acme-notes", "--kind", "reporter")
    ok("plugins", "install", "--no-deps", "--no-index", "--no-build-isolation", "--quiet",
       "--target", tmp_path / "site", tmp_path / "acme-notes")
    assert (tmp_path / "site" / "acme_notes" / "__init__.py").is_file()


def test_pip_failure_is_one_line_exit_2(tmp_path):
    one_line_error(glue("plugins", "install", "--no-index", "--quiet", tmp_path / "no-such-plugin"),
                   "pip install failed (exit code 1)")


def test_nothing_to_install():
    one_line_error(glue("plugins", "install", "--upgrade"), "Nothing to install")
    one_line_error(glue("plugins", "install", "--no-index"), "Nothing to install")
