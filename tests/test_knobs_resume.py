"""--resume continues with the run's saved settings; flags may change only what is safe; a finished run stays."""

import json

import pytest
from knobs_helpers import interrupted_at, of_kind, ok, run_args

from helpers import glue

pytest.importorskip("torch")


def test_resume_takes_the_runs_settings_and_refuses_an_unsafe_change(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    args = run_args(run, tiny_model, "torch", "--epochs", "2", "--lr-scheduler", "cosine", "--label-smoothing",
                    "0.1", "--seed", "7")
    assert interrupted_at(3, *args).exit_code == 130
    changed = glue("train", "mrpc", "--output-dir", run, "--resume", "--model", tiny_model, "--seed", "8")
    assert changed.exit_code == 2
    assert "--seed is 8" in changed.stderr and "7" in changed.stderr and len(changed.stderr.strip().splitlines()) <= 3
    # Only the output folder and --resume: model, data limits, schedule, seed... come from its config.json.
    resumed = ok("train", "mrpc", "--output-dir", run, "--resume", "--json", "-q").json()
    config = json.loads((run / "config.json").read_text())
    assert config["lr_scheduler"] == "cosine" and config["seed"] == 7 and config["label_smoothing"] == 0.1
    assert config["max_train_samples"] == 48 and config["model"] == str(tiny_model)
    assert resumed["train"]["steps"] == 3 and resumed["train"]["total_steps"] == 6


def test_safe_changes_are_taken_and_a_finished_run_is_left_as_it_is(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    ok(*run_args(run, tiny_model, "torch", "--epochs", "1"), "-q")
    before = (run / "metrics.json").read_text()
    done = ok("train", "mrpc", "--output-dir", run, "--resume")
    assert "finished" in done.stderr and (run / "metrics.json").read_text() == before
    # More epochs (and evaluations more often) is safe: it trains on from step 3.
    more = ok("train", "mrpc", "--output-dir", run, "--resume", "--epochs", "2", "--eval-steps", "2",
              "--json", "-q").json()
    assert more["train"]["steps"] == 3 and more["train"]["total_steps"] == 6
    assert [c["step"] for c in of_kind(run, "checkpoint")] == [3, 6]


def test_a_flag_equal_to_the_saved_value_is_fine(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    args = run_args(run, tiny_model, "torch", "--epochs", "2")
    assert interrupted_at(3, *args).exit_code == 130
    assert ok(*args, "--resume", "--json", "-q").json()["train"]["steps"] == 3
