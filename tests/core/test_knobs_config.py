"""Configs that round-trip: --print-config prints TOML that --config reads back unchanged, a run's config.json
is a --config file, a recipe file works, and --resume takes the run's saved settings (flags may change only
what is safe)."""

import json

import pytest
from knobs import interrupted_at, of_kind, run_args

from glue_cli.config import resolve, to_toml
from helpers import glue, ok


def test_print_config_round_trips(tmp_path, tiny_model):
    first = ok("train", "mrpc", "--model", tiny_model, "--epochs", "2", "--lr-scheduler", "cosine",
               "--adam-beta2", "0.98", "--adam-epsilon", "1e-6", "--eval-steps", "50", "--report-to", "none",
               "--data-dir", tmp_path / "some dir", "--print-config")
    assert first.stderr == "" and not (tmp_path / "runs").exists()  # printed, nothing trained
    path = tmp_path / "c.toml"
    path.write_text(first.stdout)
    again = ok("train", "--config", path, "--print-config")
    assert again.stdout == first.stdout
    assert resolve({}, path) == resolve({"task": "mrpc", "model": str(tiny_model), "epochs": 2,
                                         "lr_scheduler": "cosine", "adam_beta2": 0.98, "adam_epsilon": 1e-6,
                                         "eval_steps": 50, "report_to": "none",
                                         "data_dir": str(tmp_path / "some dir")})
    # A flag still wins over the file.
    assert 'epochs = 5' in ok("train", "--config", path, "--epochs", "5", "--print-config").stdout


def test_to_toml_quotes_what_needs_quoting(tmp_path):
    config = resolve({"task": "custom", "train_file": 'a "quoted"\\path\tx.csv', "labels": "é,b"})
    path = tmp_path / "c.toml"
    path.write_text(to_toml(config))
    assert resolve({}, path) == config


def test_a_recipe_file_sets_what_it_names(tmp_path, tiny_model):
    recipe = tmp_path / "minilm.toml"
    recipe.write_text('learning_rate = 1e-4\nepochs = 5\nwarmup_ratio = 0.1\nweight_decay = 0.01\n'
                      'metric_for_best_model = "accuracy"\nlr_scheduler = "linear"\n')
    printed = ok("train", "mrpc", "--config", recipe, "--lr", "5e-5", "--print-config").stdout
    for line in ("learning_rate = 5e-05", "epochs = 5", "warmup_ratio = 0.1", "weight_decay = 0.01",
                 'metric_for_best_model = "accuracy"'):
        assert line in printed.splitlines()
    recipe.write_text("lr_schedule = 'cosine'\n")
    bad = glue("train", "mrpc", "--config", recipe)
    assert bad.exit_code == 2 and "lr_schedule" in bad.stderr


def test_a_runs_config_json_is_a_config_file(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    ok(*run_args(run, tiny_model, "--epochs", "1", "--label-smoothing", "0.1", "--lr-scheduler", "cosine"), "-q")
    saved = json.loads((run / "config.json").read_text())
    assert {"versions", "device", "model_path", "glue_cli_run"} <= saved.keys()
    again = ok("train", "--config", run / "config.json", "--print-config").stdout
    lines = again.splitlines()
    assert 'lr_scheduler = "cosine"' in lines and "label_smoothing = 0.1" in lines
    assert "max_train_samples = 48" in lines and f"model = {json.dumps(str(tiny_model))}" in lines
    assert not any(line.startswith(("output_dir", "versions", "device")) for line in lines)
    # And it trains a new run with those settings (the old run's folder is not reused).
    other = ok("train", "--config", run / "config.json", "--output-dir", tmp_path / "other", "--json", "-q").json()
    assert other["eval"] == json.loads((run / "metrics.json").read_text())["eval"]


def test_resume_takes_the_runs_settings_and_refuses_an_unsafe_change(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    args = run_args(run, tiny_model, "--epochs", "2", "--lr-scheduler", "cosine", "--label-smoothing", "0.1",
                    "--seed", "7")
    assert interrupted_at(3, *args).exit_code == 130
    changed = glue("train", "mrpc", "--output-dir", run, "--resume", "--seed", "8")
    lines = changed.stderr.strip().splitlines()
    assert changed.exit_code == 2 and len(lines) == 1 and "--seed is 8" in lines[0] and "7" in lines[0]
    # Only the output folder and --resume: model, data limits, schedule, seed... come from its config.json.
    resumed = ok("train", "mrpc", "--output-dir", run, "--resume", "--json", "-q").json()
    config = json.loads((run / "config.json").read_text())
    assert config["lr_scheduler"] == "cosine" and config["seed"] == 7 and config["label_smoothing"] == 0.1
    assert config["max_train_samples"] == 48 and config["model"] == str(tiny_model)
    assert resumed["train"]["steps"] == 6
    assert [s["step"] for s in of_kind(run, "step")] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(("flag", "value"), [("--gradient-accumulation-steps", "2"), ("--adam-beta2", "0.98"),
                                             ("--metric-for-best-model", "accuracy"), ("--warmup-steps", "1")])
def test_resume_refuses_each_knob_that_changes_the_run(tmp_path, tiny_model, real_glue, flag, value):
    run = tmp_path / "run"
    args = run_args(run, tiny_model, "--epochs", "2")
    assert interrupted_at(3, *args).exit_code == 130
    changed = glue("train", "mrpc", "--output-dir", run, "--resume", flag, value)
    lines = changed.stderr.strip().splitlines()
    assert changed.exit_code == 2 and len(lines) == 1 and flag in lines[0], changed.stderr


def test_safe_changes_are_taken_and_a_finished_run_says_so(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    ok(*run_args(run, tiny_model, "--epochs", "1"), "-q")
    before = (run / "metrics.json").read_text()
    done = glue("train", "mrpc", "--output-dir", run, "--resume")
    lines = done.stderr.strip().splitlines()
    assert done.exit_code == 2 and len(lines) == 1 and "is finished (3 steps)" in lines[0]
    assert (run / "metrics.json").read_text() == before
    # More epochs (and evaluations more often) is safe: it trains on from step 3.
    more = ok("train", "mrpc", "--output-dir", run, "--resume", "--epochs", "2", "--eval-steps", "2",
              "--json", "-q").json()
    assert more["train"]["steps"] == 6
    assert [c["step"] for c in of_kind(run, "checkpoint")] == [3, 6]
    assert len(of_kind(run, "eval")) == 3  # step 3 in the first process, then 4 and 6 (--eval-steps 2)
    # Fewer epochs than done: one line.
    fewer = glue("train", "mrpc", "--output-dir", run, "--resume", "--max-steps", "2")
    assert fewer.exit_code == 2 and len(fewer.stderr.strip().splitlines()) == 1


def test_a_flag_equal_to_the_saved_value_is_fine(tmp_path, tiny_model, real_glue):
    run = tmp_path / "run"
    args = run_args(run, tiny_model, "--epochs", "2")
    assert interrupted_at(3, *args).exit_code == 130
    assert ok(*args, "--resume", "--json", "-q").json()["train"]["steps"] == 6
