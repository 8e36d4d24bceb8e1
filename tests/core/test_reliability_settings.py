"""Every bad setting, from a flag, GLUE_* or a --config file, is one line naming it, before any work."""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_errors import one_line_error

from glue_cli.config import RunConfig, resolve
from glue_cli.errors import ConfigError
from helpers import glue

# Bad flags of glue train: (flags, what the line names). The data folder does not exist, so a
# value that got past validation would fail later on the data, with another message.
BAD_TRAIN_FLAGS = [
    (("--learning-rate", "nan"), "--learning-rate"),
    (("--lr", "inf"), "--learning-rate"),
    (("--lr", "-1e-5"), "--learning-rate"),
    (("--lr", "0"), "--learning-rate"),
    (("--weight-decay", "nan"), "--weight-decay"),
    (("--weight-decay", "-0.1"), "--weight-decay"),
    (("--max-grad-norm", "nan"), "--max-grad-norm"),
    (("--max-grad-norm", "-1"), "--max-grad-norm"),
    (("--max-grad-norm", "0"), "--max-grad-norm"),
    (("--warmup-ratio", "nan"), "--warmup-ratio"),
    (("--warmup-ratio", "1"), "--warmup-ratio"),
    (("--batch-size", "0"), "--batch-size"),
    (("--eval-batch-size", "0"), "--eval-batch-size"),
    (("--eval-batch-size", "-1"), "--eval-batch-size"),
    (("--epochs", "0"), "--epochs"),
    (("--max-seq-length", "1"), "--max-seq-length"),
    (("--max-seq-length", "100000"), "--max-seq-length"),
    (("--max-seq-length", "-5"), "--max-seq-length"),
    (("--max-train-samples", "0"), "--max-train-samples"),
    (("--max-eval-samples", "0"), "--max-eval-samples"),
    (("--seed", "-1"), "--seed"),
    (("--seed", str(2**64)), "--seed"),
    (("--devices", "0"), "--devices"),
    (("--precision", "fp8"), "--precision"),
]


@pytest.mark.parametrize(("flags", "name"), BAD_TRAIN_FLAGS)
def test_bad_train_flags_are_refused_before_any_work(tmp_path, tiny_model, flags, name):
    line = one_line_error(glue("train", "mrpc", "--model", tiny_model, "--data-dir", tmp_path / "nope",
                               "--output-dir", tmp_path / "run", *flags), name)
    assert "does not exist" not in line
    assert not (tmp_path / "run").exists()


def test_the_model_position_limit_is_the_bound(tmp_path, tiny_model):
    limit = json.loads((tiny_model / "config.json").read_text())["max_position_embeddings"]
    line = one_line_error(glue("train", "mrpc", "--model", tiny_model, "--data-dir", tmp_path / "nope",
                               "--max-seq-length", str(limit + 1)), "--max-seq-length")
    assert str(limit) in line


@pytest.mark.parametrize("command", ["eval", "predict"])
@pytest.mark.parametrize(("flags", "name"), [
    (("--batch-size", "0"), "--batch-size"),
    (("--batch-size", "-1"), "--batch-size"),
    (("--max-seq-length", "0"), "--max-seq-length"),
    (("--max-seq-length", "-5"), "--max-seq-length"),
    (("--max-seq-length", "100000"), "--max-seq-length"),
    (("--devices", "0"), "--devices"),
])
def test_bad_eval_and_predict_flags(tmp_path, tiny_model, command, flags, name):
    one_line_error(glue(command, "mrpc", "--model", tiny_model, "--data-dir", tmp_path / "nope",
                        "--output-dir", tmp_path / "out", *flags)
                   if command == "predict" else
                   glue(command, "mrpc", "--model", tiny_model, "--data-dir", tmp_path / "nope", *flags), name)


def test_eval_max_eval_samples_zero(tmp_path, tiny_model):
    one_line_error(glue("eval", "mrpc", "--model", tiny_model, "--max-eval-samples", "0"), "--max-eval-samples")


def test_env_values_are_checked_and_named(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("GLUE_LEARNING_RATE", "nan")
    one_line_error(glue("train", "mrpc", "--model", tiny_model), "GLUE_LEARNING_RATE")
    monkeypatch.delenv("GLUE_LEARNING_RATE")
    monkeypatch.setenv("GLUE_MAX_SEQ_LENGTH", "2")
    one_line_error(glue("eval", "mrpc", "--model", tiny_model), "GLUE_MAX_SEQ_LENGTH")


BAD_CONFIG_VALUES = [
    ("epochs", 2.5), ("epochs", True), ("epochs", None), ("batch_size", [8]), ("model", 3),
    ("max_seq_length", 64.0), ("seed", 1.5), ("output_dir", 7), ("learning_rate", "fast"),
    ("learning_rate", True), ("amp", "maybe"), ("amp", 1), ("seed", -3), ("weight_decay", -1),
]


@pytest.mark.parametrize(("key", "value"), BAD_CONFIG_VALUES)
def test_bad_config_file_values_name_the_file_and_key(tmp_path, tiny_model, key, value):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({key: value}))
    model = () if key == "model" else ("--model", tiny_model)  # a flag would win over the file
    line = one_line_error(glue("train", "mrpc", *model, "--data-dir", tmp_path / "nope", "--config", path),
                          f"{path}: {key}")
    assert "does not exist" not in line


def test_toml_nan_learning_rate(tmp_path, tiny_model):
    path = tmp_path / "run.toml"
    path.write_text("learning_rate = nan\n")
    one_line_error(glue("train", "mrpc", "--model", tiny_model, "--config", path), f"{path}: learning_rate")


def test_null_for_an_optional_setting_means_unset(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"max_train_samples": None, "epochs": 2}))
    config = resolve({"task": "mrpc"}, path)
    assert config.max_train_samples is None and config.epochs == 2


def test_json_output_is_strict_json():
    from glue_cli.runs.atomic import json_safe

    text = json.dumps(json_safe({"eval": {"validation": {"pearson": math.nan, "spearmanr": math.inf}}}),
                      allow_nan=False)
    assert json.loads(text) == {"eval": {"validation": {"pearson": None, "spearmanr": None}}}


# -- fuzzing: any value, any source, is accepted or refused with a ConfigError, nothing else --

FIELDS = [f for f in RunConfig.__dataclass_fields__ if f not in {"task", "overwrite", "resume"}]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.lists(st.one_of(st.integers(), st.text(max_size=4)), max_size=3),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=4))
def test_fuzzed_config_files_give_a_config_or_a_config_error(tmp_path, values):
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(values))
    try:
        config = resolve({"task": "mrpc", "model": "./no-such-model"}, path)
    except ConfigError as exc:
        assert str(path) in exc.message
        return
    assert isinstance(config.epochs, int) and not isinstance(config.epochs, bool) and config.epochs >= 1
    assert math.isfinite(config.learning_rate) and config.learning_rate > 0
    assert 0 <= config.seed < 2**32 and config.batch_size >= 1 and config.eval_batch_size >= 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(FIELDS), raw=st.text(max_size=10))
def test_fuzzed_environment_gives_a_config_or_a_config_error(name, raw):
    if "\0" in raw:
        return  # the OS refuses NUL in the environment
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"GLUE_{name.upper()}", raw)
        try:
            resolve({"task": "mrpc", "model": "./no-such-model"})
        except ConfigError as exc:
            assert f"GLUE_{name.upper()}" in exc.message


# -- the CLI itself: fuzzed flag values end in exit 2 with one line, never a traceback --------

FLAG_VALUES = st.one_of(st.integers(min_value=-(2**70), max_value=2**70).map(str),
                        st.sampled_from(["nan", "inf", "-inf", "1e400", "", " ", "true", "0x10", "1_0", "-0"]),
                        st.floats(allow_nan=True, allow_infinity=True).map(repr))
FLAGS = ["--epochs", "--batch-size", "--eval-batch-size", "--lr", "--max-seq-length", "--warmup-ratio",
         "--weight-decay", "--max-grad-norm", "--seed", "--max-train-samples", "--max-eval-samples", "--devices"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flags=st.dictionaries(st.sampled_from(FLAGS), FLAG_VALUES, min_size=1, max_size=3))
def test_fuzzed_train_flags_never_give_a_traceback(tmp_path, tiny_model, flags):
    args = [item for flag, value in flags.items() for item in (flag, value)]
    result = glue("train", "mrpc", "--model", tiny_model, "--data-dir", tmp_path / "nope", *args)
    # Valid values get as far as the missing data folder; invalid ones stop earlier. Both: exit 2.
    assert result.exit_code == 2, (args, result.stderr, result.exception)
    assert "Traceback" not in result.stderr and isinstance(result.exception, SystemExit)


def test_json_output_stays_valid_with_a_nan_metric(tmp_path, tiny_model):
    pytest.importorskip("torch")
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"a b {i},{i / 4}\n" for i in range(8)))
    (tmp_path / "dev.csv").write_text("text,label\n" + "".join(f"c d {i},1.5\n" for i in range(4)))
    result = glue("train", "scores", "--train-file", tmp_path / "train.csv", "--validation-file",
                  tmp_path / "dev.csv", "--text-fields", "text", "--model", tiny_model, "--epochs", "1",
                  "--output-dir", tmp_path / "run", "--json", "-q")
    assert result.exit_code == 0, (result.stderr, result.exception)
    summary = json.loads(result.stdout)  # constant gold scores: Pearson is undefined, null here
    assert summary["eval"]["validation"]["pearson"] is None
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == summary
    for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda name: pytest.fail(f"bare {name} in history.jsonl"))
