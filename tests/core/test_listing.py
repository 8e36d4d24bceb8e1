import pytest

from helpers import glue, ok


@pytest.mark.every_session  # every first-party plugin loads without the other backends' frameworks
def test_plugins_json_lists_first_party_plugins_with_their_hooks():
    rows = ok("plugins", "--json").json()
    by_name = {r["name"]: r for r in rows}
    assert {"torch", "glue-tasks", "console", "history"} <= set(by_name)
    assert by_name["torch"]["hooks"] == ["glue_register_backends"]
    assert by_name["glue-tasks"]["hooks"] == ["glue_register_tasks"]
    assert by_name["torch"]["origin"] == "built-in"
    assert all(r["error"] is None for r in rows)


def test_backends_json_reports_torch_usable_with_devices_and_precisions():
    pytest.importorskip("torch")
    rows = ok("backends", "--json").json()
    torch_row = next(r for r in rows if r["name"] == "torch")
    assert torch_row["available"] is True
    assert "cpu" in torch_row["devices"]
    assert {"fp32", "bf16"} <= set(torch_row["precisions"])
    assert torch_row["amp"] in {"fp32", "bf16", "fp16"}
    assert 'pip install -c constraints.txt -e ".[torch]"' in torch_row["install"]


def test_tasks_json_describes_mrpc():
    rows = ok("tasks", "--json").json()
    mrpc = next(r for r in rows if r["name"] == "mrpc")
    assert mrpc["metrics"] == ["f1", "accuracy"]
    assert mrpc["labels"] == ["0", "1"]
    assert mrpc["kind"] == "classification"
    assert mrpc["glue_folder"] == "MRPC"


def test_a_listing_is_output_on_stdout():
    result = ok("tasks")
    assert "mrpc" in result.stdout
    assert result.stderr == ""


def test_disabled_plugin_is_skipped(monkeypatch):
    monkeypatch.setenv("GLUE_DISABLE_PLUGINS", "torch, console")
    names = {r["name"] for r in ok("plugins", "--json").json()}
    assert "torch" not in names and "console" not in names
    assert "glue-tasks" in names
    result = glue("train", "mrpc", "--backend", "torch")
    assert result.exit_code == 2
    assert "Unknown backend 'torch'" in result.stderr


def test_version():
    assert ok("--version").stdout.startswith("glue-cli ")
