"""The tf backend: glue train / glue eval on a tiny random BERT and real MRPC rows.

Cross-backend checks run the other framework in a subprocess, as a user would: transformers
decides once per process which frameworks it serves (USE_TF / USE_TORCH). Resume and forced bf16,
alike on every backend, are in test_every_backend.py.
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

# Imported while collecting, before any backend sets USE_TF/USE_TORCH: this process keeps
# every framework, so these tests and the torch backend's can share a pytest run (helpers.isolated,
# around every test, puts back the switches a tf run sets).
import transformers  # noqa: E402, F401

from helpers import FAST, FIRST_TOKEN_FAMILIES, SWITCHES, first_token_case, glue, ok  # noqa: E402

pytestmark = pytest.mark.tf

EVAL_ROWS = ("--max-eval-samples", "40")


def train(tmp_path, model, *extra):
    return ok("train", "mrpc", "--backend", "tf", "--model", model, "--output-dir",
              tmp_path / "run", *FAST, *extra)


def history(run):
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def glue_subprocess(*args, check=True):
    """The real ``glue`` command in a fresh process, which picks its own framework.

    Nor does it inherit TF_CPP_MIN_LOG_LEVEL: JAX sets it when imported (by the flax tests, in a
    venv holding both), and the tf backend would take it for the user asking for TF's logs."""
    env = {k: v for k, v in os.environ.items() if k not in {*SWITCHES, "TF_CPP_MIN_LOG_LEVEL"}}
    result = subprocess.run([sys.executable, "-m", "glue_cli", *map(str, args)], env=env,
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def close(a, b, tolerance=0.002):
    assert a.keys() == b.keys()
    for split in a:
        for name, value in a[split].items():
            assert b[split][name] == pytest.approx(value, abs=tolerance), (split, name)


def capture_engine(monkeypatch):
    """Keep the engine the backend creates, to look at it after a run."""
    from glue_plugins.tf_backend.backend import TFBackend

    made = []
    original = TFBackend.create

    def create(self, spec):
        made.append(original(self, spec))
        return made[-1]

    monkeypatch.setattr(TFBackend, "create", create)
    return made


def a_batch(labels=(1, 0)):
    from glue_cli.data.batching import Batch

    ids = np.array([[2, 10, 11, 12, 3, 0, 0, 0], [2, 20, 21, 3, 22, 23, 3, 0]], dtype=np.int32)
    types = np.array([[0] * 8, [0, 0, 0, 0, 1, 1, 1, 0]], dtype=np.int32)
    return Batch(ids, (ids > 0).astype(np.int32), types, np.array(labels), np.arange(len(labels)))


def test_train_writes_the_run_directory_in_the_pytorch_layout(fast_run):
    from safetensors import safe_open

    result, run = fast_run("tf", 2)
    summary = result.json()
    assert summary["backend"] == "tf" and summary["precision"] == "fp32"
    assert set(summary["eval"]["validation"]) == {"f1", "accuracy", "combined_score"}
    assert len(summary["train"]["epoch_seconds"]) == 2 and summary["train"]["steps"] == 6
    config = json.loads((run / "config.json").read_text())
    assert "tensorflow" in config["versions"] and config["device"] == "cpu"
    model_config = json.loads((run / "model" / "config.json").read_text())
    assert model_config["architectures"] == ["BertForSequenceClassification"]
    with safe_open(str(run / "model" / "model.safetensors"), "np") as f:
        assert f.metadata()["format"] == "pt"  # PyTorch naming: torch loads it without TF
        assert "classifier.weight" in f.keys() and "bert.pooler.dense.weight" in f.keys()
        assert f.get_tensor("classifier.weight").shape == (2, 32)  # [out, in], as nn.Linear
    with safe_open(str(run / "checkpoint" / "optimizer.safetensors"), "np") as f:
        keys = set(f.keys())
    assert "optimizer/iteration" in keys
    assert any(k.startswith("optimizer/m/") for k in keys) and any(k.startswith("rng/") for k in keys)
    assert not list(run.rglob("*.h5")) and not list(run.rglob("*.pkl"))
    kinds = [h["event"] for h in history(run)]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert kinds.count("step") == 6 and kinds.count("eval") == 2 and kinds.count("checkpoint") == 2
    # tf.function traces once for train and once for eval: open shapes without XLA.
    assert history(run)[-1]["compiles"] == 2


def test_xla_traces_at_most_once_per_length_bucket(tmp_path, tiny_model, real_glue, monkeypatch):
    """Train and eval are counted apart; each stays within ceil(max_seq_length / 4) traces (the core's buckets)."""
    from glue_cli.api import COMPILED_PADDING
    from glue_plugins.tf_backend.backend import XLA_ON_CPU

    monkeypatch.setenv(XLA_ON_CPU, "1")  # XLA is off on a CPU by default: forced, to test it here
    made = capture_engine(monkeypatch)
    summary = train(tmp_path, tiny_model, "--epochs", "2", "--xla", "--max-seq-length", "64",
                    "--max-train-samples", "80", "--json").json()
    engine = made[0]
    multiple = COMPILED_PADDING.multiple
    buckets = math.ceil(64 / multiple)
    assert 1 <= engine.traces["train"] <= buckets
    assert 1 <= engine.traces["predict"] <= buckets
    compiles = [h for h in history(tmp_path / "run") if h["event"] == "compile"]
    assert compiles and compiles[-1]["compiles"] == engine.compile_count()
    assert all(shape[0] == 16 and shape[1] % multiple == 0 for shape in (h["shape"] for h in compiles))
    assert summary["train"]["steps"] == 10


def test_xla_on_a_cpu_says_in_one_line_why_it_is_off_and_runs_plain_tf(tmp_path, tiny_model, real_glue,
                                                                        monkeypatch):
    from glue_cli.training.backends import batch_padding, compiles
    from glue_plugins.tf_backend.backend import XLA_ON_CPU, TFBackend

    monkeypatch.delenv(XLA_ON_CPU, raising=False)
    made = capture_engine(monkeypatch)
    result = train(tmp_path, tiny_model, "--epochs", "1", "--xla", "--max-train-samples", "40", "-q")
    note = TFBackend().xla_note("cpu")
    assert note and "off on a CPU" in note and XLA_ON_CPU in note
    assert result.stderr.strip() == f"warning: --xla: {note}"
    assert made[0].spec.xla is False and made[0].compile_count() == 2  # one open-shape trace per step kind
    assert not TFBackend().xla_runs("cpu") and not compiles(TFBackend(), True, "cpu")
    if TFBackend().devices()[0] == "cpu":  # the core pads --xla's batches for the graph engine it builds
        assert batch_padding(TFBackend(), True) == batch_padding(TFBackend(), False)
    assert TFBackend().xla_note("gpu:0") is None and compiles(TFBackend(), True, "gpu:0")
    assert TFBackend().padding(True, "gpu:0").multiple > 1
    row = next(r for r in ok("backends", "--json").json() if r["name"] == "tf")
    assert row["xla"] == note


def test_amp_on_this_cpu_matches_its_native_bf16(tmp_path, tiny_model, real_glue):
    from glue_plugins.tf_backend.backend import TFBackend, native_bf16

    expected = TFBackend().amp_precision("cpu")
    assert expected == ("bf16" if native_bf16() else "fp32")
    result = train(tmp_path, tiny_model, "--epochs", "1", "--amp", "-q")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["precision"] == expected
    if expected == "fp32":
        assert "--amp" in result.stderr and "fp32" in result.stderr


def test_native_bf16_reads_the_cpu_flags(tmp_path):
    from glue_plugins.tf_backend.backend import native_bf16

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse avx2 avx512f\n")
    assert not native_bf16(cpuinfo)
    cpuinfo.write_text("flags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert native_bf16(cpuinfo)
    cpuinfo.write_text("flags\t\t: fpu avx2 amx_bf16 amx_tile\n")
    assert native_bf16(cpuinfo)
    assert not native_bf16(tmp_path / "missing")


@pytest.mark.cross
def test_tf_trained_model_evaluates_the_same_on_torch(tmp_path, tiny_model, real_glue):
    pytest.importorskip("torch")
    summary = train(tmp_path, tiny_model, "--epochs", "1", "--json").json()
    run = tmp_path / "run"
    on_tf = ok("eval", "mrpc", "--model", run, "--backend", "tf", *EVAL_ROWS, "--json").json()
    on_torch = glue_subprocess("eval", "mrpc", "--model", run, "--backend", "torch", *EVAL_ROWS,
                               "--json", "-q").stdout
    close(on_tf, summary["eval"], 1e-6)
    close(json.loads(on_torch), on_tf)
    # Metrics of a tiny model can hide differences: the logits themselves agree.
    assert_same_logits_as_torch(run / "model")


@pytest.mark.cross
def test_torch_trained_model_evaluates_the_same_on_tf(tmp_path, tiny_model, real_glue):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    trained = glue_subprocess("train", "mrpc", "--backend", "torch", "--model", tiny_model,
                              "--output-dir", run, *FAST, "--epochs", "1", "--json", "-q").stdout
    on_tf = ok("eval", "mrpc", "--model", run, "--backend", "tf", *EVAL_ROWS, "--json").json()
    close(on_tf, json.loads(trained)["eval"])
    assert_same_logits_as_torch(run / "model")


TORCH_LOGITS = """
import json, sys
import torch
from transformers import AutoModelForSequenceClassification
batch = json.loads(sys.argv[2])
model = AutoModelForSequenceClassification.from_pretrained(sys.argv[1]).eval()
with torch.no_grad():
    out = model(**{k: torch.tensor(v) for k, v in batch.items()}).logits
print(json.dumps(out.tolist()))
"""


def assert_same_logits_as_torch(model_dir):
    from glue_cli.training.backends import ModelSpec
    from glue_plugins.tf_backend.backend import TFBackend

    batch = a_batch()
    inputs = {"input_ids": batch.input_ids.tolist(), "attention_mask": batch.attention_mask.tolist(),
              "token_type_ids": batch.token_type_ids.tolist()}
    # TF_CPP_MIN_LOG_LEVEL too: JAX, when this process imported it, set it to 1 (not a user's wish).
    env = {k: v for k, v in os.environ.items() if k not in (*SWITCHES, "TF_CPP_MIN_LOG_LEVEL")}
    env["USE_TF"] = "0"
    done = subprocess.run([sys.executable, "-c", TORCH_LOGITS, str(model_dir), json.dumps(inputs)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    torch_logits = np.array(json.loads(done.stdout.strip().splitlines()[-1]), dtype=np.float32)
    spec = ModelSpec(path=str(model_dir), num_labels=2, regression=False, id2label={0: "0", 1: "1"})
    tf_logits = TFBackend().create(spec).predict(batch)
    np.testing.assert_allclose(tf_logits, torch_logits, atol=1e-4)


def test_tensorflow_start_up_noise_stays_off_the_screen(tmp_path, tiny_model, real_glue):
    args = ("train", "mrpc", "--backend", "tf", "--model", tiny_model, *FAST, "--epochs", "1")
    quiet = glue_subprocess(*args, "--output-dir", tmp_path / "quiet", "-q")
    assert quiet.stderr == "", quiet.stderr  # no oneDNN, CUDA, absl nor transformers lines
    shown = glue_subprocess(*args, "--output-dir", tmp_path / "shown").stderr.lower()
    for noise in ("onednn", "cuda", "cuinit", "absl", "tensorflow and jax classes"):
        assert noise not in shown
    assert "epoch 1/1" in shown
    verbose = glue_subprocess(*args, "--output-dir", tmp_path / "verbose", "--verbose")
    assert "newly initialized" in verbose.stderr  # transformers' own notice, asked for


@pytest.mark.cross
def test_listing_backends_after_jax_keeps_tensorflow_quiet():
    """JAX, imported first for the flax backend, sets TF_CPP_MIN_LOG_LEVEL=1: not a user's wish."""
    pytest.importorskip("jax")  # which sets TF_CPP_MIN_LOG_LEVEL in this process too: not passed on
    env = {k: v for k, v in os.environ.items() if k not in {*SWITCHES, "TF_CPP_MIN_LOG_LEVEL"}}
    listed = subprocess.run([sys.executable, "-m", "glue_cli", "backends", "--json"], env=env,
                            capture_output=True, text=True, timeout=600, check=True)
    assert {"flax", "tf"} <= {row["name"] for row in json.loads(listed.stdout) if row["available"]}
    assert listed.stderr == "", listed.stderr  # no absl, cudart_stub nor cuInit lines


def test_fp16_needs_a_gpu(tmp_path, tiny_model, real_glue):
    result = glue("train", "mrpc", "--backend", "tf", "--model", tiny_model, "--output-dir",
                  tmp_path / "run", *FAST, "--precision", "fp16")
    assert result.exit_code == 2
    assert "fp16" in result.stderr


@pytest.mark.parametrize("family", ["bert", "roberta", "electra", "distilbert"])
def test_the_last_layer_computes_only_the_first_token_with_the_same_logits_and_gradients(tmp_path, family):
    import tensorflow as tf

    from glue_plugins.tf_backend.engine import TFEngine, load_model

    spec, batch = first_token_case(tmp_path, family)
    engine = TFEngine(spec, "cpu")
    plain = load_model(spec)
    tensors = {k: tf.constant(v) for k, v in engine.model_inputs(batch).items()}
    plain(**tensors)
    plain.set_weights(engine.model.get_weights())  # the same freshly initialised head

    ffn_inputs = []  # what the last layer's feed-forward block is given
    last_ffn = [layer for layer in engine.model.submodules if layer.name in ("intermediate", "ffn")][-1]
    original = last_ffn.call

    def recording(*args, **kwargs):
        given = args[0] if args else kwargs.get("hidden_states", kwargs.get("input"))
        ffn_inputs.append(tuple(given.shape))
        return original(*args, **kwargs)

    last_ffn.call = recording

    def loss_and_grads(model):
        with tf.GradientTape() as tape:
            logits = model(**tensors, training=True).logits
            loss = tf.reduce_sum(tf.nn.log_softmax(logits)[:, 0])
        return logits, tape.gradient(loss, model.trainable_variables)

    fast_logits, fast_grads = loss_and_grads(engine.model)
    plain_logits, plain_grads = loss_and_grads(plain)
    skips = family in FIRST_TOKEN_FAMILIES
    assert engine.first_token_last is skips
    assert ffn_inputs[-1][1] == (1 if skips else 20)
    np.testing.assert_allclose(fast_logits, plain_logits, rtol=1e-5, atol=1e-6)
    for variable, a, b in zip(engine.model.trainable_variables, fast_grads, plain_grads, strict=True):
        np.testing.assert_allclose(tf.convert_to_tensor(a), tf.convert_to_tensor(b), rtol=1e-4, atol=1e-6,
                                   err_msg=variable.name)
