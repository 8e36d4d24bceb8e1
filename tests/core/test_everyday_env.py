"""glue env (the bug-report block) and shell completion."""

import os
import platform
import subprocess
import sys

import pytest

from glue_cli import __version__, envinfo
from helpers import FRAMEWORK_MODULES, framework_installed, ok


def test_env_is_one_pasteable_block_on_stdout(monkeypatch):
    monkeypatch.setenv("GLUE_BACKEND", "torch")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    result = ok("env")
    out = result.stdout
    assert f"- glue-cli version: {__version__}" in out
    assert f"- Python: {platform.python_version()}" in out
    assert "- platform: " in out and "- CPU: " in out and "native bf16: " in out
    assert "transformers " in out
    for backend in FRAMEWORK_MODULES:
        line = next(x for x in out.splitlines() if x.startswith(f"- backend {backend}:"))
        assert ("devices" in line) == framework_installed(backend), line
    assert "glue-tasks" in out and "(built-in)" in out
    assert "GLUE_BACKEND=torch" in out
    assert "hf_secret_value" not in out and "HF_TOKEN" not in out  # secrets never leave the machine


def test_env_json_has_the_same_facts():
    info = ok("env", "--json").json()
    assert info["glue-cli"] == __version__
    assert info["python"].startswith(platform.python_version())
    assert set(FRAMEWORK_MODULES) <= set(info["backends"])
    assert info["packages"]["transformers"]
    assert {p["name"] for p in info["plugins"]} >= {"glue-tasks", "console", "history"}


def test_cpu_model_comes_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n")
    assert envinfo.cpu_model(cpuinfo) == "AMD EPYC 7B13"


def complete(*words: str) -> list[str]:
    """What bash completion offers after ``glue WORDS`` (the last word being typed)."""
    env = {**os.environ, "_GLUE_COMPLETE": "complete_bash", "COMP_WORDS": " ".join(("glue", *words)),
           "COMP_CWORD": str(len(words))}
    done = subprocess.run([sys.executable, "-m", "glue_cli"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_shell_completion_offers_commands_tasks_and_backends():
    assert "train" in complete("tr")
    assert {"runs", "report"} <= set(complete("r"))
    assert complete("train", "mr") == ["mrpc"]
    assert set(complete("eval", "--backend", "")) >= {"torch", "tf", "flax"}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_show_completion_prints_the_script(shell):
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    done = subprocess.run([sys.executable, "-m", "glue_cli", "--show-completion", shell], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "_GLUE_COMPLETE" in done.stdout
