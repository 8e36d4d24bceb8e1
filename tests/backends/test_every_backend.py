"""What every backend does alike, one test parametrized over the three (each backend's nox session
runs its own case): an interrupted run resumes exactly, and forced bf16 computes in bf16 over float32
weights. How to look inside an engine differs by framework: the INSIDE functions below."""

import json

import numpy as np
import pytest

from glue_cli.data.batching import Batch
from glue_cli.training.backends import ModelSpec
from helpers import FAST, FRAMEWORK_MODULES, framework_installed, glue_interrupted, ok, reset_plugins

BACKENDS = list(FRAMEWORK_MODULES)


def need(backend):
    if not framework_installed(backend):
        pytest.skip(f"the {backend} backend's framework is not installed here")


def history(run):
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


# How close a resumed run's final metrics come to the uninterrupted run's: torch's are bit for bit equal.
EVAL_TOLERANCE = {"torch": 0.0, "tf": 1e-6, "flax": 1e-6}


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_continues_an_interrupted_run_exactly(backend, fast_run, tiny_model, tmp_path):
    need(backend)
    full, full_run = fast_run(backend, 2)
    run = tmp_path / "run"
    args = ("train", "mrpc", "--backend", backend, "--model", tiny_model, "--output-dir", run, *FAST,
            "--epochs", "2")
    interrupted = glue_interrupted(*args)
    assert interrupted.exit_code == 130
    assert "--resume" in interrupted.stderr
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert (state["step"], state["epoch"], state["backend"]) == (3, 1, backend)
    resumed = ok(*args, "--resume", "--json").json()
    kinds = [h["event"] for h in history(run)]
    assert kinds.count("run_start") == 2 and kinds.count("step") == 6
    # Same weights, optimizer moments, step count and dropout generator states: same run.
    losses = [h["loss"] for h in history(run) if h["event"] == "step"]
    full_losses = [h["loss"] for h in history(full_run) if h["event"] == "step"]
    np.testing.assert_allclose(losses, full_losses, rtol=1e-5)
    expected = full.json()["eval"]
    assert resumed["eval"].keys() == expected.keys()
    tolerance = EVAL_TOLERANCE[backend]
    for split, metrics in expected.items():
        assert resumed["eval"][split] == (pytest.approx(metrics, abs=tolerance) if tolerance else metrics), split


def a_batch(rows: int = 2, length: int = 16) -> Batch:
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 60, (rows, length)).astype(np.int32)
    ids[:, 0], ids[:, -1] = 2, 3
    ids[1:, length // 2:] = 0
    return Batch(ids, (ids > 0).astype(np.int32), np.zeros_like(ids), np.arange(rows) % 2, np.arange(rows))


def engine(backend, model, precision):
    from glue_cli.plugins.manager import get_backends

    reset_plugins()
    spec = ModelSpec(path=str(model), num_labels=2, regression=False, id2label={0: "0", 1: "1"}, precision=precision)
    return get_backends().get(backend).create(spec)


def torch_inside(engine, batch):
    """The compute dtype of the logits, and the dtypes of the weights."""
    logits = engine._logits(batch)
    return str(logits.dtype).removeprefix("torch."), {str(p.dtype).removeprefix("torch.")
                                                      for p in engine.model.parameters()}


def tf_inside(engine, batch):
    return engine._logits(batch).dtype.name, {v.dtype.name for v in engine.model.trainable_variables}


def flax_inside(engine, batch):
    import jax
    import jax.numpy as jnp

    ids, mask, types = (jnp.asarray(a) for a in (batch.input_ids, batch.attention_mask, batch.token_type_ids))
    logits = engine.model(ids, mask, types, params=engine.params, train=False).logits
    jaxpr = str(jax.make_jaxpr(lambda p: engine.model(ids, mask, types, params=p).logits)(engine.params))
    assert "dot_general" in jaxpr and "bf16[2,16,32]" in jaxpr  # the matrix products themselves
    # The optimizer state too stays float32.
    leaves = jax.tree_util.tree_leaves((engine.params, engine.opt_state))
    return str(logits.dtype), {str(leaf.dtype) for leaf in leaves if jnp.issubdtype(leaf.dtype, jnp.floating)}


INSIDE = {"torch": torch_inside, "tf": tf_inside, "flax": flax_inside}


@pytest.mark.parametrize("backend", BACKENDS)
def test_forced_bf16_really_computes_in_bf16(backend, tiny_model):
    need(backend)
    bf16, batch = engine(backend, tiny_model, "bf16"), a_batch()
    assert INSIDE[backend](bf16, batch) == ("bfloat16", {"float32"})  # bf16 compute, fp32 master weights
    in_bf16, in_fp32 = bf16.predict(batch), engine(backend, tiny_model, "fp32").predict(batch)
    assert in_bf16.dtype == np.float32 and not np.array_equal(in_bf16, in_fp32)
    np.testing.assert_allclose(in_bf16, in_fp32, atol=0.05)
    assert np.isfinite(bf16.train_step(batch, 1e-3))
    assert INSIDE[backend](bf16, batch)[1] == {"float32"}  # a step leaves them float32
    if backend == "tf":
        import tf_keras

        assert tf_keras.mixed_precision.global_policy().name == "float32"  # put back
