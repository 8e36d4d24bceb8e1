"""The plugin manager's rules: unknown hooks are the plugin's error, pluggy's call order, a backend's
framework checked at registration, and a plugin's exception becoming one line that names it."""

import subprocess
import sys

import pluggy
import pytest

from glue_cli.plugins import hookspecs
from glue_cli.plugins.manager import GROUP, PluginInfo, Plugins, _collect, blame, call_order, register_commands
from glue_cli.training.events import EventSink, RunEnded
from helpers import glue, ok, write_files


def fake_site(root, dist, entry_points, modules, version="0.1.0"):
    """A folder that, put on sys.path, holds an installed ``dist`` (a .dist-info beside its modules):
    what pip would leave, without running pip."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    stanza = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    tops = sorted({path.split("/")[0].removesuffix(".py") for path in modules})
    write_files(root, {
        **modules,
        f"{info.name}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
        f"{info.name}/entry_points.txt": f"[{GROUP}]\n{stanza}",
        f"{info.name}/top_level.txt": "\n".join(tops) + "\n",
    })
    return root


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Install fake distributions for one test; their modules are forgotten afterwards."""
    before = set(sys.modules)
    root = tmp_path / "site"

    def install(dist, entry_points, modules):
        fake_site(root, dist, entry_points, modules)
        monkeypatch.syspath_prepend(str(root))
        return root

    yield install
    for name in set(sys.modules) - before:
        if name.startswith("glue_pm_"):
            del sys.modules[name]


def rows():
    return {r["name"]: r for r in ok("plugins", "--json").json()}


TYPO = '''
from glue_cli.api import Task, hookimpl


@hookimpl
def glue_register_backend(register):  # a typo: the hook is glue_register_backends
    raise AssertionError("never called")


@hookimpl(optionalhook=True)
def glue_register_gizmos(register):  # a hook of a later API: pluggy's optionalhook allows it
    pass


@hookimpl
def glue_register_tasks(register):
    register(Task(name="typo-task", text_fields=("text",), labels=("a", "b"), metrics=("accuracy",)))
'''

WRAPPER = '''
from glue_cli.api import hookimpl


@hookimpl(wrapper=True)
def glue_on_event(event):
    return (yield)
'''

BAD_ARGUMENTS = '''
from glue_cli.api import hookimpl

CALLED = []


@hookimpl
def glue_on_event(event):  # registered by pluggy before the bad hook below is seen
    CALLED.append(event)


@hookimpl
def glue_register_tasks(registry):  # no hook has that argument
    pass
'''


def test_an_unknown_hook_is_the_plugins_error_and_its_other_hooks_work(site):
    site("glue-pm-typo", {"typo": "glue_pm_typo", "wrapped": "glue_pm_wrapped"},
         {"glue_pm_typo.py": TYPO, "glue_pm_wrapped.py": WRAPPER})
    typo = rows()["typo"]
    assert typo["error"] == ("unknown hook glue_register_backend (did you mean glue_register_backends?); "
                             "it is never called")
    assert typo["hooks"] == ["glue_register_tasks"]
    assert "typo-task" in {t["name"] for t in ok("tasks", "--json").json()}
    assert "hook wrapper" in rows()["wrapped"]["error"]
    # Shown by the listing in full, and as one warning line by the other commands.
    assert "did you mean glue_register_backends?" in ok("plugins").stdout
    warned = [line for line in glue("eval", "mrpc").stderr.splitlines() if "typo" in line]
    assert warned == ["warning: plugin 'typo': unknown hook glue_register_backend (did you mean "
                      "glue_register_backends?); it is never called"]


def test_a_plugin_pluggy_refuses_has_none_of_its_hooks_left_behind(site):
    site("glue-pm-args", {"args": "glue_pm_args"}, {"glue_pm_args.py": BAD_ARGUMENTS})
    row = rows()["args"]
    assert row["error"].startswith("PluginValidationError") and row["hooks"] == []
    from glue_cli.plugins.manager import get_plugins

    pm = get_plugins().pm
    assert pm.get_plugin("args") is None
    assert all(impl.plugin_name != "args" for impl in pm.hook.glue_on_event.get_hookimpls())


class Recorder:
    def __init__(self, name, calls):
        self.name, self.calls = name, calls


def recorders(calls, marks):
    """One plugin per (name, hookimpl options), each implementing the registration and event hooks."""
    made = []
    for name, options in marks:
        cls = type(f"P{name}", (Recorder,), {
            "glue_register_tasks": hookspecs.hookimpl(**options)(lambda self, register: register(self.name)),
            "glue_register_commands": hookspecs.hookimpl(**options)(lambda self, app: self.calls.append(self.name)),
            "glue_on_event": hookspecs.hookimpl(**options)(lambda self, event: self.calls.append(self.name)),
        })
        made.append(cls(name, calls))
    return made


def test_hooks_are_called_in_pluggys_order():
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    calls: list[str] = []
    marks = [("a", {}), ("last", {"trylast": True}), ("first", {"tryfirst": True}), ("b", {})]
    for plugin in recorders(calls, marks):
        pm.register(plugin, name=plugin.name)
    expected = ["first", "b", "a", "last"]
    assert [impl.plugin_name for impl in call_order(pm, "glue_register_tasks")] == expected

    class Registry:
        def register(self, item, owner):
            calls.append(item)

    plugins = Plugins(pm, [])
    _collect(plugins, "glue_register_tasks", Registry())
    assert calls == expected
    calls.clear()
    register_commands(plugins, app=None)
    assert calls == expected
    calls.clear()
    EventSink(pm)(RunEnded(metrics={}, train_seconds=0.0, seconds=0.0))
    assert calls == expected


BACKENDS = '''
from glue_cli.api import hookimpl


class Backend:
    framework = "torch"
    pad_multiple = 8
    fixed_batch_rows = False

    def __init__(self, name, framework):
        self.name, self.framework = name, framework

    def unavailable_reason(self):
        return "not here"


@hookimpl
def glue_register_backends(register):
    register(Backend("pm-own-framework", "acme_accel"))  # what the old scaffold wrote
    register(Backend("pm-good", "tf"))
'''


def test_a_backend_with_an_unknown_framework_is_refused_at_registration(site):
    site("glue-pm-backends", {"pmb": "glue_pm_backends"}, {"glue_pm_backends.py": BACKENDS})
    names = {r["name"] for r in ok("backends", "--json").json()}
    assert "pm-good" in names and "pm-own-framework" not in names
    error = rows()["pmb"]["error"]
    assert "backend 'pm-own-framework' declares framework = 'acme_accel'" in error
    assert "torch, tf, flax" in error and "pm-good" not in error
    warned = [line for line in ok("backends").stderr.splitlines() if "'pmb'" in line]
    assert len(warned) == 1 and "acme_accel" in warned[0]


def test_the_backend_scaffold_declares_a_valid_framework():
    from glue_cli.plugins.scaffold import files_for, names_for
    from glue_cli.training.backends import FRAMEWORKS, registration_problem

    source = files_for("backend", names_for("acme-turbo"))["acme_turbo/__init__.py"]
    assert "FILL IN" in source.split("framework =")[0].rsplit("\n\n", 1)[-1]
    namespace: dict = {}
    exec(compile(source, "acme_turbo/__init__.py", "exec"), namespace)
    backend = namespace["AcmeTurboBackend"]()
    assert backend.framework in FRAMEWORKS and registration_problem(backend) is None


CRASHER = '''
from glue_cli.api import BackendBase, hookimpl
from glue_pm_crash.engine import build


class CrashBackend(BackendBase):
    name = "pm-crash"
    framework = "torch"

    def create(self, spec):
        return build(spec)


@hookimpl
def glue_register_backends(register):
    register(CrashBackend())

'''

COMMAND = '''
from glue_cli.api import hookimpl


@hookimpl
def glue_register_commands(app):
    @app.command("pm-crash")
    def crash():
        raise KeyError("no such gizmo")
'''

ENGINE = '''
def build(spec):
    raise RuntimeError("device lost\\nsecond line of the message")
'''


@pytest.fixture
def with_crasher(site):
    site("glue-pm-crash", {"crash": "glue_pm_crash"},
         {"glue_pm_crash/__init__.py": CRASHER, "glue_pm_crash/engine.py": ENGINE})


def crash_eval(tiny_model, *extra):
    return glue("eval", "mrpc", "--model", tiny_model, "--backend", "pm-crash", "--max-eval-samples", "8", *extra)


def test_a_plugins_exception_is_one_line_naming_it(with_crasher, tiny_model, real_glue):
    result = crash_eval(tiny_model)
    assert result.exit_code == 1, (result.stderr, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["Error: plugin 'crash' (glue-pm-crash 0.1.0) failed in CrashBackend.create: RuntimeError: "
                     "device lost ... (--verbose shows the traceback)"]


def test_verbose_shows_the_traceback_then_the_line(with_crasher, tiny_model, real_glue):
    result = crash_eval(tiny_model, "--verbose")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and 'glue_pm_crash/engine.py", line 3, in build' in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: plugin 'crash'")


def test_a_plugins_own_command_is_attributed_too(tmp_path):
    # In a glue process of its own: a command a plugin adds stays on the app for the process's life.
    root = fake_site(tmp_path / "site", "glue-pm-command", {"cmd": "glue_pm_command"},
                     {"glue_pm_command.py": COMMAND})
    run = subprocess.run([sys.executable, "-m", "glue_cli", "pm-crash"], capture_output=True, text=True,
                         env={"PYTHONPATH": str(root), "PATH": "", "HF_HUB_OFFLINE": "1"}, cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip() == ("Error: plugin 'cmd' (glue-pm-command 0.1.0) failed in "
                                  "glue_register_commands.<locals>.crash: KeyError: 'no such gizmo' "
                                  "(GLUE_TRACE_PLUGINS=1 shows the traceback)")


def test_glues_own_bugs_keep_their_traceback():
    def core():
        raise ValueError("a bug in glue")

    try:
        core()
    except ValueError as exc:
        infos = [PluginInfo("torch", "1", "glue-cli", "glue_plugins.torch_backend")]
        assert blame(exc, infos) is None


USER_ERROR = CRASHER.replace("from glue_pm_crash.engine import build", """from glue_cli.api import ModelError


def build(spec):
    raise ModelError("No weights here.", "Pass a trained model.")""")


def test_a_glue_error_from_a_plugin_stays_the_users_one_line(site, tiny_model, real_glue):
    site("glue-pm-usererr", {"usererr": "glue_pm_usererr"}, {"glue_pm_usererr.py": USER_ERROR})
    result = glue("eval", "mrpc", "--model", tiny_model, "--backend", "pm-crash", "--max-eval-samples", "8")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: No weights here. Pass a trained model."
