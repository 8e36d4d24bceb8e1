"""Listings are output: on stdout, greppable when piped, never cut at 80 columns; hints keep their extras."""

import io

import pytest
from rich.console import Console

from glue_cli import listing
from glue_cli.display import print_listing
from glue_cli.plugins import installation
from helpers import glue, ok, pip_install_target, reset_plugins, setuptools_project, write_files

LONG_TASK = '''
from glue_cli.plugins.hookspecs import hookimpl
from glue_cli.data.tasks import Task


@hookimpl
def glue_register_tasks(register):
    register(Task(name="acme-reviews-sentiment-long-name", text_fields=("text",),
                  labels=("negative", "positive"), metrics=("accuracy",)))
'''


def grep(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if word in line]


@pytest.mark.parametrize("command", ["tasks", "backends", "plugins"])
def test_listings_print_on_stdout_so_grep_finds_them(command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = ok(command)
    word = {"tasks": "mrpc", "backends": "torch", "plugins": "glue-tasks"}[command]
    assert grep(result.stdout, word), result.stdout
    assert not grep(result.stderr, word)


def test_glue_tasks_pipe_gives_one_whole_line_per_task(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    lines = grep(ok("tasks").stdout, "stsb")
    assert len(lines) == 1
    assert "regression" in lines[0] and "pearson, spearmanr" in lines[0]
    assert "…" not in ok("tasks").stdout


@pytest.fixture
def with_long_plugin(tmp_path, monkeypatch):
    project = write_files(tmp_path / "acme-revi", setuptools_project(
        "glue-acme-reviews-with-a-long-distribution-name", {"acme-reviews-plugin": "acme_revi"},
        {"acme_revi/__init__.py": LONG_TASK},
    ))
    monkeypatch.syspath_prepend(str(pip_install_target(tmp_path / "site", project)))


def render(table, width: int) -> str:
    """What a terminal of ``width`` columns shows."""
    buffer = io.StringIO()
    print_listing(table, Console(file=buffer, width=width, force_terminal=True, color_system=None))
    return buffer.getvalue()


def test_tables_on_an_80_column_terminal_keep_every_name_whole(with_long_plugin):
    reset_plugins()
    tasks = render(listing.task_table(listing.task_rows()), 80)
    assert "acme-reviews-sentiment-long-name" in tasks
    assert "classification" in tasks and "glue-tasks" in tasks
    assert "…" not in tasks
    real = render(listing.task_table([r for r in listing.task_rows() if r["plugin"] == "glue-tasks"]), 80)
    assert max(len(line) for line in real.splitlines()) <= 80
    assert all(name in real for name in ("mrpc", "classification", "regression", "glue-tasks"))
    ok("plugins")  # loads the plugin
    plugins = ok("plugins", "--json").json()
    assert any(r["name"] == "acme-reviews-plugin" for r in plugins)
    piped = ok("plugins").stdout
    assert grep(piped, "acme-reviews-plugin") and "…" not in piped


def test_the_install_hint_keeps_its_extra_in_the_table(monkeypatch):
    rows = [{"name": "tf", "available": False, "reason": "TensorFlow is not installed",
             "install": 'Install it with: pip install -c constraints.txt -e ".[tf]"', "plugin": "tf",
             "devices": [], "precisions": [], "amp": None}]
    text = render(listing.backend_table(rows), 300)
    assert '".[tf]"' in text


def test_from_a_clone_the_hint_is_the_readme_command():
    assert installation.source_checkout() is not None  # the tests run from a clone
    assert installation.pip_install_extra("tf").startswith('pip install -c constraints.txt -e ".[tf]"')


def test_from_a_wheel_the_hint_names_the_extra(monkeypatch):
    monkeypatch.setattr(installation, "source_checkout", lambda: None)
    assert installation.pip_install_extra("tf") == 'pip install "glue-cli[tf]"'


def test_glue_backends_shows_the_full_hint_of_a_missing_framework(monkeypatch):
    from glue_plugins.torch_backend.backend import TorchBackend

    monkeypatch.setattr(TorchBackend, "unavailable_reason", lambda self: "PyTorch is not installed")
    rows = {r["name"]: r for r in ok("backends", "--json").json()}
    assert rows["torch"]["install"].endswith('pip install -c constraints.txt -e ".[torch]" (in '
                                             f'{installation.source_checkout()})')
    line = grep(ok("backends").stdout, "torch")[0]
    assert '-e ".[torch]"' in line


def test_broken_plugins_are_warned_about_by_tasks_and_backends(tmp_path, monkeypatch):
    project = write_files(tmp_path / "glue-broken", setuptools_project(
        "glue-broken", {"broken": "glue_broken"}, {"glue_broken/__init__.py": "import glue_no_such_module\n"},
    ))
    monkeypatch.syspath_prepend(str(pip_install_target(tmp_path / "site", project)))
    for command in ("tasks", "backends"):
        result = glue(command)
        assert result.exit_code == 0
        assert "warning: plugin 'broken' failed to load" in result.stderr
        assert "broken" not in result.stdout.replace("glue-broken", "")


def test_backend_help_lists_the_backends_installed(tmp_path, monkeypatch):
    module = '''
from glue_cli.api import hookimpl


class Turbo:
    name = "turbo"
    framework = "torch"  # its models are PyTorch's (an unknown framework is refused at registration)


@hookimpl
def glue_register_backends(register):
    register(Turbo())
'''
    project = write_files(tmp_path / "glue-turbo", setuptools_project(
        "glue-turbo", {"turbo": "glue_turbo"}, {"glue_turbo/__init__.py": module}))
    monkeypatch.syspath_prepend(str(pip_install_target(tmp_path / "site", project)))
    monkeypatch.setenv("COLUMNS", "200")
    for command in ("train", "eval", "predict"):
        line = next(x for x in ok(command, "--help").stdout.splitlines() if "--backend" in x)
        assert "One of: flax, tf, torch, turbo (glue backends)" in line
