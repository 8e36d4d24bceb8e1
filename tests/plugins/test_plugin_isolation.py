"""Plugins that break, raise, target another plugin API, or clash leave glue working and say so."""

import pytest

from glue_cli import PLUGIN_API_VERSION
from glue_cli.data.tasks import Task
from glue_cli.plugins.manager import api_mismatch
from helpers import glue, ok, one_line_error, pip_install_target, setuptools_project, write_files

TASK_MODULE = '''
from glue_cli.plugins.hookspecs import hookimpl
from glue_cli.data.tasks import Task

{extra}

@hookimpl
def glue_register_tasks(register):
    register(Task(name="{task}", text_fields=("text",), labels=("a", "b"), metrics=("accuracy",)))
'''

RAISER = '''
from glue_cli.plugins.hookspecs import hookimpl


@hookimpl
def glue_register_tasks(register):
    raise RuntimeError("raiser's task hook is broken")


@hookimpl
def glue_register_commands(app):
    raise RuntimeError("raiser's command hook is broken")


@hookimpl
def glue_on_event(event):
    raise RuntimeError("raiser's event hook is broken")
'''

MISFITS = setuptools_project(
    "glue-misfits",
    {"broken": "glue_misfits.broken", "raiser": "glue_misfits.raiser", "future": "glue_misfits.future",
     "unparsable": "glue_misfits.unparsable", "current": "glue_misfits.current"},
    {
        "glue_misfits/__init__.py": "",
        "glue_misfits/broken.py": "import glue_no_such_dependency  # noqa\n",
        "glue_misfits/raiser.py": RAISER,
        "glue_misfits/future.py": TASK_MODULE.format(extra='GLUE_CLI_API = ">=3,<4"', task="future-task"),
        "glue_misfits/unparsable.py": TASK_MODULE.format(extra='GLUE_CLI_API = "version two"', task="odd-task"),
        "glue_misfits/current.py": TASK_MODULE.format(extra='GLUE_CLI_API = ">=2,<3"', task="current-task"),
    },
)

TWIN = setuptools_project(
    "glue-twin", {"twin": "glue_twin"},
    {"glue_twin/__init__.py": TASK_MODULE.format(extra="", task="mrpc")},
)


@pytest.fixture(scope="module")
def misfits_site(tmp_path_factory):
    project = write_files(tmp_path_factory.mktemp("misfits") / "glue-misfits", MISFITS)
    return pip_install_target(tmp_path_factory.mktemp("site") / "site", project)


@pytest.fixture
def with_misfits(misfits_site, monkeypatch):
    monkeypatch.syspath_prepend(str(misfits_site))


def plugin_rows():
    return {r["name"]: r for r in ok("plugins", "--json").json()}


def test_the_api_range_check():
    assert PLUGIN_API_VERSION == "2.1"
    assert api_mismatch("p", None) is None  # nothing declared: the current API
    assert api_mismatch("p", ">=2,<3") is None
    assert api_mismatch("p", "~=2.0") is None
    message = api_mismatch("p", ">=3,<4")
    assert message == ("plugin 'p' requires glue-cli plugin API >=3,<4, but this glue-cli provides 2.1: "
                       "upgrade the plugin or glue-cli")
    assert "not a version range" in api_mismatch("p", "two")


def test_glue_plugins_lists_every_misfit_with_its_error(with_misfits):
    rows = plugin_rows()
    assert rows["broken"]["error"] == "ModuleNotFoundError: No module named 'glue_no_such_dependency'"
    assert rows["broken"]["hooks"] == []
    assert rows["raiser"]["error"] == (
        "glue_register_commands raised RuntimeError: raiser's command hook is broken; "
        "glue_register_tasks raised RuntimeError: raiser's task hook is broken"
    )
    assert rows["raiser"]["hooks"] == ["glue_on_event", "glue_register_commands", "glue_register_tasks"]
    future = rows["future"]["error"]
    assert "'future'" in future and ">=3,<4" in future and "provides 2.1" in future
    assert rows["future"]["hooks"] == []  # never registered
    assert "'version two'" in rows["unparsable"]["error"]
    assert rows["current"]["error"] is None
    assert rows["current"]["hooks"] == ["glue_register_tasks"]
    # The healthy ones are untouched.
    assert rows["torch"]["error"] is None and rows["glue-tasks"]["error"] is None


def test_the_explicit_list_command_says_the_same(with_misfits):
    assert ok("plugins", "list", "--json").json() == ok("plugins", "--json").json()
    table = ok("plugins", "list").stdout
    assert "glue_no_such_dependency" in table and "future" in table


def test_an_incompatible_plugin_registers_nothing(with_misfits):
    tasks = {r["name"] for r in ok("tasks", "--json").json()}
    assert "current-task" in tasks
    assert "future-task" not in tasks and "odd-task" not in tasks


def test_train_works_beside_the_misfits_and_warns_once_each(with_misfits, tiny_model, real_glue, tmp_path):
    pytest.importorskip("torch")
    result = ok("train", "mrpc", "--backend", "torch", "--model", tiny_model, "--epochs", "1",
                "--max-train-samples", "24", "--max-eval-samples", "24", "--output-dir", tmp_path / "run",
                "--json")
    assert set(result.json()["eval"]["validation"]) == {"accuracy", "f1", "combined_score"}
    lines = result.stderr.splitlines()
    future = [line for line in lines if "'future'" in line]
    assert len(future) == 1 and ">=3,<4" in future[0] and "2.1" in future[0]
    assert len([line for line in lines if "'broken'" in line]) == 1
    # Each of the raiser's hooks is warned about once; its event hook gets no more events after failing.
    # (Its command hook fails in build_app, before the CLI runner captures stderr.)
    for hook in ("task", "event"):
        assert len([line for line in lines if f"raiser's {hook} hook" in line]) == 1, hook
    assert "Traceback" not in result.stderr


def test_without_the_check_the_future_plugin_would_be_used(with_misfits, monkeypatch):
    """The check is what keeps it out: one that follows the current API gets in."""
    monkeypatch.setattr("glue_cli.plugins.manager.PLUGIN_API_VERSION", "3.0", raising=True)
    rows = plugin_rows()
    assert rows["future"]["error"] is None and rows["future"]["hooks"] == ["glue_register_tasks"]
    assert "requires glue-cli plugin API >=2,<3" in rows["current"]["error"]


def test_disabling_the_misfits_silences_them(with_misfits, monkeypatch):
    monkeypatch.setenv("GLUE_DISABLE_PLUGINS", "broken,raiser,future,unparsable")
    rows = plugin_rows()
    assert {"broken", "raiser", "future", "unparsable"}.isdisjoint(rows)
    assert all(r["error"] is None for r in rows.values())


def test_trace_plugins_shows_each_hook_call(monkeypatch):
    quiet = ok("tasks", "--json")
    assert "glue-trace" not in quiet.stderr
    monkeypatch.setenv("GLUE_TRACE_PLUGINS", "1")
    traced = ok("tasks", "--json")
    assert "glue-trace: glue-tasks.glue_register_tasks()" in traced.stderr
    assert traced.json() == quiet.json()  # stdout stays clean


def test_trace_plugins_shows_events(monkeypatch, tiny_model, real_glue, tmp_path):
    pytest.importorskip("torch")
    monkeypatch.setenv("GLUE_TRACE_PLUGINS", "1")
    result = ok("train", "mrpc", "--backend", "torch", "--model", tiny_model, "--epochs", "1",
                "--max-train-samples", "8", "--max-eval-samples", "8", "--output-dir", tmp_path / "run", "-q")
    assert "glue-trace: history.glue_on_event(event=run_start)" in result.stderr
    assert "glue-trace: torch.glue_register_backends()" in result.stderr


@pytest.fixture
def with_twin(tmp_path_factory, monkeypatch):
    project = write_files(tmp_path_factory.mktemp("twin") / "glue-twin", TWIN)
    monkeypatch.syspath_prepend(str(pip_install_target(tmp_path_factory.mktemp("site") / "site", project)))


def test_two_plugins_registering_one_name_is_one_clear_error(with_twin, monkeypatch):
    line = one_line_error(glue("tasks"), "both register the task 'mrpc'", "GLUE_DISABLE_PLUGINS")
    assert "'twin'" in line and "'glue-tasks'" in line
    monkeypatch.setenv("GLUE_DISABLE_PLUGINS", "twin")
    assert "mrpc" in {r["name"] for r in ok("tasks", "--json").json()}


def test_a_tasks_own_data_dir_is_read_and_named_when_missing(tmp_path):
    from glue_cli.data.glue_folder import glue_folder
    from glue_cli.data.tasks import GlueLayout
    from glue_cli.errors import DataError

    task = Task(name="own", text_fields=("t",), labels=("a", "b"), metrics=("accuracy",),
                glue=GlueLayout("OWN", {"train": "train.csv"}, ("t",), "l"), data_dir=str(tmp_path / "data"))
    with pytest.raises(DataError, match="Put the own task's files there, or pass --data-dir"):
        glue_folder(task, None)
    (tmp_path / "data").mkdir()
    assert glue_folder(task, None) == tmp_path / "data"
    assert glue_folder(task, tmp_path) == tmp_path  # --data-dir wins
