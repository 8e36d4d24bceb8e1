"""glue bench: every field for a cell that runs, a reason for one that cannot. No timing thresholds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from glue_cli.cli import build_app
from glue_cli.plugins import manager as plugins
from glue_cli.plugins.hookspecs import hookimpl
from glue_cli.training import bench
from glue_cli.training.bench_worker import Recorder, timed_window, training_flops
from glue_cli.training.events import EpochStarted, StepEnded
from helpers import FRAMEWORK_MODULES, framework_installed, glue, reset_plugins

MACHINE_FIELDS = {"cpu", "cpu_threads", "usable_threads", "native_bf16", "gpus", "python"}


def test_bench_json_reports_every_field_and_why_a_cell_cannot_run(tiny_model, real_glue, monkeypatch):
    installed = [b for b in FRAMEWORK_MODULES if framework_installed(b)]
    if not installed:
        pytest.skip("no framework installed")
    backend = installed[0]  # torch where it is installed; the tf and flax nox sessions use theirs
    for switch in ("USE_TORCH", "USE_TF", "USE_FLAX"):  # the worker loads its framework alone, as glue train would
        monkeypatch.delenv(switch, raising=False)
    result = glue("bench", "mrpc", "--backend", backend, "--modes", "fp32,fp16", "--rows", "24", "--eval-rows", "8",
                  "--batch-size", "8", "--model", tiny_model, "--json")
    assert result.exit_code == 0, (result.stderr, result.exception)
    report = result.json()
    assert set(report["machine"]) == MACHINE_FIELDS and report["machine"]["cpu"]
    assert report["settings"]["skip_steps"] == 3  # the first epoch of 24 rows in batches of 8
    fp32, fp16 = report["cells"]
    assert (fp32["backend"], fp32["mode"], fp32["status"]) == (backend, "fp32", "ok"), fp32
    on_gpu = not fp32["device"].startswith("cpu")
    for name in bench.CELL_FIELDS:
        assert name in fp32
        if name != "gpu_peak_mb" or on_gpu:
            assert fp32[name] is not None, name
    assert fp32["precision"] == "fp32" and fp32["timed_steps"] == 3 and fp32["timed_examples"] == 24
    assert 0 < fp32["padding_efficiency"] <= 1 and fp32["examples_per_second"] > 0
    assert fp32["real_tokens_per_second"] > fp32["examples_per_second"]
    assert fp32["peak_rss_mb"] > 100 and fp32["time_to_first_step_s"] > 0 and 0 < fp32["mfu"] < 1
    assert set(fp32["eval"]["validation"]) == {"f1", "accuracy", "combined_score"}
    if not on_gpu:  # fp16 needs a GPU on every first-party backend
        assert fp16["status"] == "skipped" and "fp16" in fp16["reason"], fp16
    assert backend in result.stderr and "fp32" in result.stderr  # the table, on stderr


def test_a_backend_that_is_not_installed_is_a_skipped_row_not_a_failure(tmp_path):
    class Missing:
        name = "nothere"
        framework = "torch"  # its models are PyTorch's; what it runs them on is missing
        install_hint = "Install it with: pip install nothere"
        pad_multiple, fixed_batch_rows = 8, False

        def unavailable_reason(self):
            return "NotHere is not installed"

    class Plugin:
        @hookimpl
        def glue_register_backends(self, register):
            register(Missing())

    reset_plugins()
    plugins.get_plugins().pm.register(Plugin(), name="speed-missing")
    try:
        result = CliRunner().invoke(build_app(), ["bench", "--backend", "nothere", "--modes", "fp32,amp+xla",
                                                  "--json"])
    finally:
        reset_plugins()
    assert result.exit_code == 0, (result.stderr, result.exception)
    cells = json.loads(result.stdout)["cells"]
    assert [(c["mode"], c["status"]) for c in cells] == [("fp32", "skipped"), ("amp+xla", "skipped")]
    assert "NotHere is not installed" in cells[0]["reason"] and "pip install nothere" in cells[0]["reason"]
    assert "nothere fp32: skipped: NotHere is not installed" in result.stderr


@pytest.mark.parametrize("args,message", [
    (("--modes", "fp32,turbo"), "Unknown bench mode 'turbo'"),
    (("--modes", "amp+bf16"), "more than one precision"),
    (("--backend", "torhc"), "torhc"),
    (("--epochs", "1", "--skip-steps", "100", "--rows", "16"), "Nothing left to time"),
])
def test_bad_settings_are_one_line_before_any_cell_runs(args, message):
    result = glue("bench", *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_mode_words_map_to_train_flags():
    assert bench.mode_flags("fp32") == {"xla": False}
    assert bench.mode_flags("amp+xla") == {"xla": True, "amp": True}
    assert bench.mode_flags("bf16") == {"xla": False, "precision": "bf16"}
    assert bench.mode_flags("XLA") == {"xla": True}
    assert bench.split_names(["torch,tf", " flax "]) == ("torch", "tf", "flax")


def test_the_timed_window_leaves_out_the_skipped_steps_and_the_gaps_between_epochs():
    r = Recorder()
    r.seen = [
        (EpochStarted(1, 2, 0), 0.0, 0.0),
        (StepEnded(1, 1, 0.5, 1e-3, 4, 9.0), 9.0, 0.0),  # compiles: not timed
        (StepEnded(2, 1, 0.5, 1e-3, 4, 1.0), 10.0, 0.0),
        (EpochStarted(2, 2, 2), 50.0, 0.0),  # evaluation and a checkpoint happened in between
        (StepEnded(3, 2, 0.5, 1e-3, 4, 1.5), 51.5, 0.0),
        (StepEnded(4, 2, 0.5, 1e-3, 3, 1.0), 52.5, 0.0),
    ]
    window = timed_window(r, skip_steps=1)
    assert window.steps == [2, 3, 4] and window.examples == 11 and window.seconds == pytest.approx(3.5)


def test_training_flops_of_an_encoder():
    layers, h, i = 6, 384, 1536
    one = training_flops(np.array([100]), (layers, h, i))
    assert one == pytest.approx(3 * layers * (2 * 100 * (4 * h * h + 2 * h * i) + 4 * 100 * 100 * h))
    assert training_flops(np.array([100, 100]), (layers, h, i)) == pytest.approx(2 * one)


def test_an_xla_cell_that_would_repeat_another_says_why(tiny_model, real_glue, monkeypatch):
    """flax always compiles: its xla cell is skipped with the backend's note, not a second fp32 row."""
    if not framework_installed("flax"):
        pytest.skip("flax is not installed")
    for switch in ("USE_TORCH", "USE_TF", "USE_FLAX"):
        monkeypatch.delenv(switch, raising=False)
    result = glue("bench", "mrpc", "--backend", "flax", "--modes", "xla", "--rows", "16", "--eval-rows", "8",
                  "--batch-size", "8", "--model", tiny_model, "--json")
    assert result.exit_code == 0, (result.stderr, result.exception)
    (cell,) = result.json()["cells"]
    assert cell["status"] == "skipped" and "always on" in cell["reason"], cell
