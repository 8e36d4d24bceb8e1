"""The flax backend: jit compiles, data parallel, and runs that torch loads, on a tiny BERT.

Resume and forced bf16, alike on every backend, are in test_every_backend.py."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glue_cli.data.batching import Batch
from glue_cli.training.backends import ModelSpec
from helpers import FAST, FIRST_TOKEN_FAMILIES, first_token_case, glue, ok

pytestmark = pytest.mark.flax
pytest.importorskip("flax")
pytest.importorskip("optax")


def train(tmp_path, model, *extra):
    return ok("train", "mrpc", "--backend", "flax", "--model", model, "--output-dir",
              tmp_path / "run", *FAST, *extra)


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def engine_for(model, precision="fp32", seed=42, devices=None):
    from glue_plugins.flax_backend.engine import FlaxEngine

    spec = ModelSpec(path=str(model), num_labels=2, regression=False, id2label={0: "0", 1: "1"},
                     precision=precision, seed=seed, devices=devices)
    return FlaxEngine(spec)


def tiny_batch(rows: int = 2, length: int = 16) -> Batch:
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 60, (rows, length)).astype(np.int32)
    ids[:, 0], ids[:, -1] = 2, 3
    ids[1:, length // 2:] = 0
    return Batch(ids, (ids > 0).astype(np.int32), np.zeros_like(ids), np.arange(rows) % 2,
                 np.arange(rows))


@pytest.mark.cross
def test_train_writes_the_run_and_torch_evaluates_the_saved_model_alike(fast_run):
    result, run = fast_run("flax", 2)
    summary = result.json()
    assert summary["backend"] == "flax" and summary["train"]["steps"] == 6
    assert json.loads((run / "metrics.json").read_text()) == summary
    for name in ("config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"):
        assert (run / "model" / name).is_file()
    for name in ("optimizer.safetensors", "engine_state.json", "model/model.safetensors"):
        assert (run / "checkpoint" / name).is_file()
    assert not [p for p in run.rglob("*") if p.suffix in {".msgpack", ".bin", ".pt", ".pkl"}]
    kinds = [h["event"] for h in history(run)]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert kinds.count("step") == 6 and kinds.count("eval") == 2 and "compile" in kinds
    assert "Results" in result.stderr and "epoch 2/2" in result.stderr

    again = ok("eval", "mrpc", "--model", run, "--backend", "flax", "--max-eval-samples", "40",
               "--json").json()
    for name, value in summary["eval"]["validation"].items():
        assert again["validation"][name] == pytest.approx(value, abs=1e-6)

    pytest.importorskip("torch")
    on_torch = ok("eval", "mrpc", "--model", run, "--backend", "torch", "--max-eval-samples", "40",
                  "--json").json()
    for name, value in summary["eval"]["validation"].items():
        assert on_torch["validation"][name] == pytest.approx(value, abs=0.002)


@pytest.mark.cross
def test_saved_weights_are_pytorch_named_and_give_torch_the_same_logits(tmp_path, tiny_model):
    torch = pytest.importorskip("torch")
    from safetensors.numpy import load_file
    from transformers import AutoModelForSequenceClassification

    engine = engine_for(tiny_model)
    batch = tiny_batch()
    engine.train_step(batch, 1e-2)  # move the weights away from the files'
    engine.save_model(tmp_path / "model")
    saved = load_file(str(tmp_path / "model" / "model.safetensors"))
    assert "bert.encoder.layer.0.attention.self.query.weight" in saved
    assert "classifier.weight" in saved and saved["classifier.weight"].shape == (2, 32)
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model").eval()
    with torch.no_grad():
        expected = model(input_ids=torch.from_numpy(batch.input_ids).long(),
                         attention_mask=torch.from_numpy(batch.attention_mask).long(),
                         token_type_ids=torch.from_numpy(batch.token_type_ids).long()).logits.numpy()
    np.testing.assert_allclose(engine.predict(batch), expected, atol=1e-5)


def test_loads_pytorch_safetensors_without_torch(tiny_model):
    """The flax backend converts PyTorch-named safetensors itself: torch need not be installed."""
    script = (
        "import sys; sys.modules['torch'] = None\n"  # any `import torch` now fails
        "import numpy as np\n"
        "from safetensors.numpy import load_file\n"
        "from glue_cli.training.backends import ModelSpec\n"
        "from glue_plugins.flax_backend.engine import FlaxEngine\n"
        f"e = FlaxEngine(ModelSpec(path={str(tiny_model)!r}, num_labels=2, regression=False,\n"
        "                          id2label={0: '0', 1: '1'}))\n"
        f"pt = load_file({str(tiny_model / 'model.safetensors')!r})\n"
        "p = e.params['bert']\n"
        "q = p['encoder']['layer']['0']['attention']['self']['query']['kernel']\n"
        "assert np.array_equal(np.asarray(q), pt['encoder.layer.0.attention.self.query.weight'].T)\n"
        "w = p['embeddings']['word_embeddings']['embedding']\n"
        "assert np.array_equal(np.asarray(w), pt['embeddings.word_embeddings.weight'])\n"
        "n = p['encoder']['layer']['1']['output']['LayerNorm']['scale']\n"
        "assert np.array_equal(np.asarray(n), pt['encoder.layer.1.output.LayerNorm.weight'])\n"
        "print('ok')\n"
    )
    env = {**os.environ, "USE_TORCH": "0", "USE_TF": "0"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_compiled_steps_are_kept_in_glues_cache_and_a_second_run_loads_them(tmp_path, tiny_model):
    """What one process compiled (model set-up, a train and a predict step) the next one reads back
    from disk (XLA's persistent cache under $GLUE_CACHE_DIR/xla) instead of compiling it again."""
    script = (
        "import jax, numpy as np\n"
        "hits = []\n"
        "jax.monitoring.register_event_listener(lambda event, **_: hits.append(event))\n"
        "from glue_cli.data.batching import Batch\n"
        "from glue_cli.training.backends import ModelSpec\n"
        "from glue_plugins.flax_backend.engine import FlaxEngine\n"
        f"e = FlaxEngine(ModelSpec(path={str(tiny_model)!r}, num_labels=2, regression=False,\n"
        "                          id2label={0: '0', 1: '1'}))\n"
        "ids = np.full((4, 8), 5, np.int32)\n"
        "b = Batch(ids, np.ones_like(ids), np.zeros_like(ids), np.array([0, 1, 0, 1]), np.arange(4))\n"
        "e.train_step(b, 1e-3); e.predict(b)\n"
        "print(hits.count('/jax/compilation_cache/cache_hits'), hits.count('/jax/compilation_cache/cache_misses'))\n"
    )
    # The tiny model compiles in well under JAX's 1 s threshold for caching: cache every compile here.
    env = {**os.environ, "GLUE_CACHE_DIR": str(tmp_path), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-3000:] + runs[1].stderr[-3000:]
    assert any((tmp_path / "xla").iterdir())
    (hits_1, misses_1), (hits_2, misses_2) = (map(int, r.stdout.split()[-2:]) for r in runs)
    assert misses_1 >= 2 and hits_1 < misses_1  # the first process compiled its steps (and stored them) ...
    assert misses_2 == 0 and hits_2 >= misses_1  # ... the second compiled nothing: all read from the cache


def test_the_classification_head_is_initialised_from_the_seed(tiny_model):
    def head(seed):
        return np.asarray(engine_for(tiny_model, seed=seed).params["classifier"]["kernel"])

    assert np.array_equal(head(1), head(1))
    assert not np.array_equal(head(1), head(2))


def test_weight_decay_spares_biases_and_layernorm(tiny_model):
    """Same gradients, with and without decay: only the decayed parameters differ."""
    import dataclasses

    from flax.traverse_util import flatten_dict

    from glue_cli.training.optimization import OptimizerSettings
    from glue_plugins.flax_backend.engine import FlaxEngine

    base = ModelSpec(path=str(tiny_model), num_labels=2, regression=False, id2label={0: "0", 1: "1"})
    plain, decayed = (
        FlaxEngine(dataclasses.replace(base, optimizer=OptimizerSettings(weight_decay=wd)))
        for wd in (0.0, 0.5)
    )
    assert set(plain.opt_state[1].hyperparams) == {"learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"}
    batch = tiny_batch()
    assert plain.train_step(batch, 1e-2) == decayed.train_step(batch, 1e-2)
    a, b = (flatten_dict(e.params, sep=".") for e in (plain, decayed))
    for name in ("bert.embeddings.LayerNorm.scale", "bert.encoder.layer.0.output.dense.bias",
                 "classifier.bias"):
        np.testing.assert_array_equal(a[name], b[name])
    for name in ("bert.encoder.layer.0.attention.self.query.kernel", "classifier.kernel",
                 "bert.embeddings.word_embeddings.embedding"):
        assert not np.allclose(a[name], b[name])


def test_steps_compile_at_most_once_per_length_bucket_and_xla_is_reported_always_on(tmp_path, tiny_model,
                                                                                    real_glue):
    from glue_cli.data.batching import COMPILED_PADDING
    from glue_plugins.flax_backend.backend import FlaxBackend

    engines = []
    original = FlaxBackend.create

    def spy(self, spec):
        engines.append(original(self, spec))
        return engines[-1]

    try:
        FlaxBackend.create = spy
        result = train(tmp_path, tiny_model, "--epochs", "2", "--max-seq-length", "64",
                       "--max-train-samples", "96", "--eval-batch-size", "16", "-q", "--xla")
    finally:
        FlaxBackend.create = original
    (engine,) = engines
    multiple = COMPILED_PADDING.multiple
    bound = math.ceil(64 / multiple)
    assert 1 <= engine.traces["train"] <= bound and 1 <= engine.traces["predict"] <= bound
    assert engine.compile_count() == engine.traces["train"] + engine.traces["predict"]
    compiles = [h for h in history(tmp_path / "run") if h["event"] == "compile"]
    assert compiles and all(h["shape"][1] % multiple == 0 and h["shape"][0] == 16 for h in compiles)
    # --xla is said to change nothing, in one line, rather than ignored in silence.
    assert result.stderr.strip() == "warning: --xla: " + FlaxBackend().xla_note()
    row = next(r for r in ok("backends", "--json").json() if r["name"] == "flax")
    assert row["xla"].startswith("always on")


def test_amp_is_fp32_on_a_cpu_without_native_bf16(tmp_path, tiny_model, real_glue):
    from glue_plugins.flax_backend.backend import FlaxBackend, cpu_has_native_bf16

    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n")
    assert not cpu_has_native_bf16(avx2) and cpu_has_native_bf16(amx)
    assert not cpu_has_native_bf16(tmp_path / "missing")
    expected = "bf16" if cpu_has_native_bf16() else "fp32"
    assert FlaxBackend().amp_precision("cpu:0") == expected
    assert FlaxBackend().amp_precision("gpu:0") == "bf16"
    result = train(tmp_path, tiny_model, "--epochs", "1", "--amp", "-q")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["precision"] == expected
    if expected == "fp32":  # the warning, and nothing else (no framework chatter under -q)
        assert "--precision bf16 forces bf16" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_regression_head_trains_on_float_targets(tiny_model):
    from glue_plugins.flax_backend.engine import FlaxEngine

    engine = FlaxEngine(ModelSpec(path=str(tiny_model), num_labels=1, regression=True, id2label={0: "score"}))
    batch = tiny_batch()
    batch.labels = np.array([0.5, 4.2], dtype=np.float32)
    assert np.isfinite(engine.train_step(batch, 1e-3))
    assert engine.predict(batch).shape == (2, 1)


def test_last_partial_batch_is_evaluated_once(tiny_model, real_glue):
    from glue_cli.training.evaluation import split_logits
    from glue_cli.training.pipeline import prepare_data

    p = prepare_data("mrpc", "flax", str(tiny_model), None, ["validation"], 128,
                     {"validation": 37})
    engine = engine_for(tiny_model)
    assert p.padding.fixed_rows  # flax: jit, full batches
    seen = []

    class Spy:
        def predict(self, batch):
            assert batch.input_ids.shape[0] == 16  # the last batch is padded with filler rows
            seen.extend(int(i) for i in batch.example_index if i >= 0)
            return engine.predict(batch)

    by_16 = split_logits(Spy(), p.padding, p.encoded["validation"], 16, 128, 0, 2)
    assert sorted(seen) == list(range(37))
    whole = split_logits(engine, p.padding, p.encoded["validation"], 37, 128, 0, 2)
    np.testing.assert_allclose(by_16, whole, atol=1e-5)


def test_more_devices_than_visible_is_a_clear_error(tmp_path, tiny_model, real_glue):
    import jax

    result = glue("train", "mrpc", "--backend", "flax", "--model", tiny_model, "--output-dir",
                  tmp_path / "run", *FAST, "--devices", str(len(jax.local_devices()) + 1))
    assert result.exit_code == 2 and "--devices" in result.stderr and "Traceback" not in result.stderr


def test_two_devices_give_the_metrics_of_one(tmp_path, tiny_model, real_glue):
    """Data parallel on two virtual CPU devices (XLA_FLAGS must be set before jax is imported)."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "USE_TORCH": "0", "USE_TF": "0"}
    # 37 dev rows in batches of 15: the last batch is partial, and 15 rows do not split in two.
    args = ["train", "mrpc", "--backend", "flax", "--model", str(tiny_model), *map(str, FAST),
            "--epochs", "2", "--eval-batch-size", "15", "--max-eval-samples", "37", "--json"]
    runs = {}
    for devices in ("1", "2"):
        out = tmp_path / f"d{devices}"
        done = subprocess.run([sys.executable, "-m", "glue_cli", *args, "--output-dir", str(out),
                               "--devices", devices], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[devices] = json.loads(done.stdout), out
    (one, out1), (two, out2) = runs["1"], runs["2"]
    assert json.loads((out2 / "config.json").read_text())["device"] == "cpu x2"
    assert json.loads((out1 / "config.json").read_text())["device"] == "cpu:0"
    for name, value in one["eval"]["validation"].items():
        assert two["eval"]["validation"][name] == pytest.approx(value, abs=1e-5)
    losses = [[h["loss"] for h in history(o) if h["event"] == "step"] for o in (out1, out2)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
    evals = [h for h in history(out2) if h["event"] == "eval"]
    assert all(h["examples"] == 37 for h in evals)



@pytest.mark.parametrize("family", ["bert", "roberta", "electra", "distilbert"])
def test_the_last_layer_computes_only_the_first_token_with_the_same_logits_and_gradients(tmp_path, family):
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from glue_plugins.flax_backend.engine import FlaxEngine

    spec, batch = first_token_case(tmp_path, family)
    engine = FlaxEngine(spec)
    arrays = {k: jnp.asarray(v) for k, v in engine.model_inputs(batch).items()}
    key = jax.random.PRNGKey(0)

    def loss(logits):
        return jnp.sum(jax.nn.log_softmax(logits.astype(jnp.float32))[:, 0])

    fed: list[tuple[int, ...]] = []  # what each feed-forward block is given, in call order

    def record(next_fun, args, kwargs, context):
        if context.method_name == "__call__" and type(context.module).__name__.endswith(("Intermediate", "FFN")):
            fed.append(tuple(args[0].shape))
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        fast, fast_grads = jax.value_and_grad(lambda p: loss(engine._logits(p, arrays, key)))(engine.params)
    plain, plain_grads = jax.value_and_grad(
        lambda p: loss(engine.model(**arrays, params=p, dropout_rng=key, train=True).logits))(engine.params)

    skips = family in FIRST_TOKEN_FAMILIES
    assert fed[-1][1] == (1 if skips else 20)
    np.testing.assert_allclose(engine._logits(engine.params, arrays),
                               engine.model(**arrays, params=engine.params, train=False).logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast, plain, rtol=1e-5)
    for (where, a), (_, b) in zip(jax.tree_util.tree_leaves_with_path(fast_grads),
                                  jax.tree_util.tree_leaves_with_path(plain_grads), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=jax.tree_util.keystr(where))
