"""The trainer knobs on each backend, with the same meaning: gradient accumulation gives the bigger batch's
updates, label smoothing is the smoothed cross-entropy, Adam's betas and epsilon change the updates (and not
the model before them), the step/eval/save/logging/scheduler/best-model knobs drive the core's loop alike,
and a run resumed from a mid-epoch checkpoint ends with exactly the uninterrupted run's metrics."""

import json

import numpy as np
import pytest
from knobs import interrupted_at, of_kind, run_args, train
from safetensors.numpy import load_file

from glue_cli.data.batching import Batch, concat_rows, split_rows
from glue_cli.training.backends import ModelSpec
from glue_cli.training.engine_base import batch_targets
from glue_cli.training.optimization import OptimizerSettings
from glue_cli.training.tinymodel import make_tiny_bert
from helpers import FRAMEWORK_MODULES, framework_installed, ok, reset_plugins

BACKENDS = list(FRAMEWORK_MODULES)


def need(backend):
    if not framework_installed(backend):
        pytest.skip(f"the {backend} backend's framework is not installed here")


@pytest.fixture(scope="module")
def no_dropout_model(tmp_path_factory):
    """Dropout off: one forward of 32 rows and two of 16 then see the same network."""
    return make_tiny_bert(tmp_path_factory.mktemp("nodrop") / "bert", dropout=0.0)


def engine(backend, model, **spec):
    from glue_cli.plugins.manager import get_backends

    reset_plugins()
    return get_backends().get(backend).create(ModelSpec(
        path=str(model), num_labels=2, regression=False, id2label={0: "0", 1: "1"}, **spec))


def a_batch():
    ids = np.array([[2, 10, 11, 12, 3, 0, 0, 0], [2, 13, 14, 3, 15, 16, 3, 0], [2, 20, 3, 0, 0, 0, 0, 0]], np.int32)
    return Batch(ids, (ids > 0).astype(np.int32), np.zeros_like(ids), np.array([0, 1, 1]), np.array([0, 1, 2]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_accumulation_gives_the_updates_of_the_bigger_batch(tmp_path, no_dropout_model, real_glue, backend):
    need(backend)
    big = train(tmp_path / "big", no_dropout_model, "--epochs", "1", "--batch-size", "32", backend=backend)
    acc = train(tmp_path / "acc", no_dropout_model, "--epochs", "1", "--gradient-accumulation-steps", "2",
                backend=backend)  # FAST's --batch-size 16
    small = train(tmp_path / "small", no_dropout_model, "--epochs", "1", backend=backend)
    assert big["train"]["steps"] == acc["train"]["steps"] == 2 and small["train"]["steps"] == 3
    big_steps, acc_steps = of_kind(tmp_path / "big", "step"), of_kind(tmp_path / "acc", "step")
    assert [s["examples"] for s in acc_steps] == [s["examples"] for s in big_steps] == [32, 16]
    assert [s["loss"] for s in acc_steps] == pytest.approx([s["loss"] for s in big_steps], rel=1e-5)
    a, b = load_file(tmp_path / "acc/model/model.safetensors"), load_file(tmp_path / "big/model/model.safetensors")
    for name, value in b.items():
        np.testing.assert_allclose(a[name], value, atol=5e-6, err_msg=name)
    assert acc["eval"]["validation"] == pytest.approx(big["eval"]["validation"], abs=1e-6)
    small_losses = [s["loss"] for s in of_kind(tmp_path / "small", "step")]
    assert [s["loss"] for s in acc_steps] != pytest.approx(small_losses[:2])  # not the 16-row updates


def test_micro_batches_split_and_join_back():
    ids = np.arange(20, dtype=np.int32).reshape(5, 4)
    batch = Batch(ids, np.ones_like(ids), np.zeros_like(ids), np.arange(5), np.array([0, 1, 2, 3, -1]))
    parts = split_rows(batch, 2)
    assert [p.shape for p in parts] == [(2, 4), (2, 4), (1, 4)]
    joined = concat_rows(parts)
    for field in ("input_ids", "attention_mask", "token_type_ids", "labels", "example_index"):
        np.testing.assert_array_equal(getattr(joined, field), getattr(batch, field))


@pytest.mark.parametrize("backend", BACKENDS)
def test_label_smoothing_is_the_smoothed_cross_entropy(no_dropout_model, backend):
    need(backend)
    batch = a_batch()
    for smoothing in (0.0, 0.2):
        e = engine(backend, no_dropout_model, label_smoothing=smoothing)
        logits = e.predict(batch).astype(np.float64)
        log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        targets = (1 - smoothing) * np.eye(2)[batch.labels] + smoothing / 2
        expected = float(-(targets * log_p).sum(-1).mean())
        assert e.train_step(batch, 1e-3) == pytest.approx(expected, rel=1e-5), smoothing
        # predict() is the plain model: smoothing changes the loss, not the logits.
        np.testing.assert_allclose(logits, engine(backend, no_dropout_model).predict(batch), atol=1e-6)
    spec = ModelSpec(path="x", num_labels=3, regression=False, id2label={}, label_smoothing=0.3)
    np.testing.assert_allclose(batch_targets(batch, spec)[0], [0.8, 0.1, 0.1], rtol=1e-6)
    regression = ModelSpec(path="x", num_labels=1, regression=True, id2label={}, label_smoothing=0.3)
    assert batch_targets(batch, regression).ndim == 1  # smoothing is for classes only


@pytest.mark.parametrize("backend", BACKENDS)
def test_adam_betas_and_epsilon_change_the_updates_not_the_first_loss(no_dropout_model, backend):
    need(backend)
    batch = a_batch()

    def losses(**settings):
        e = engine(backend, no_dropout_model, optimizer=OptimizerSettings(**settings))
        return [e.train_step(batch, 1e-2) for _ in range(3)]

    default = losses()
    assert losses() == pytest.approx(default, rel=1e-6)
    for changed in (losses(beta1=0.5), losses(beta2=0.5), losses(epsilon=1e-1)):
        assert changed[0] == pytest.approx(default[0], rel=1e-6)  # same model until the first update
        assert changed[1:] != pytest.approx(default[1:], rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_optimisation_flags_reach_the_engine(tmp_path, tiny_model, real_glue, backend):
    need(backend)
    from glue_cli.plugins.manager import get_backends

    seen = []
    reset_plugins()
    backend_type = type(get_backends().get(backend))
    original = backend_type.create
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backend_type, "create", lambda self, spec: seen.append(spec) or original(self, spec))
        mp.setattr("helpers.reset_plugins", lambda: None)
        train(tmp_path / "r", tiny_model, "--max-steps", "1", "--adam-beta1", "0.8", "--adam-beta2", "0.98",
              "--adam-epsilon", "1e-6", "--label-smoothing", "0.1", backend=backend)
    assert seen[0].optimizer == OptimizerSettings(beta1=0.8, beta2=0.98, epsilon=1e-6)
    assert seen[0].label_smoothing == 0.1


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_knobs_and_the_best_model(tmp_path, tiny_model, real_glue, backend):
    need(backend)
    run = tmp_path / "run"
    summary = train(run, tiny_model, "--max-steps", "5", "--eval-steps", "2", "--save-steps", "2",
                    "--logging-steps", "2", "--lr-scheduler", "cosine", "--warmup-steps", "1",
                    "--metric-for-best-model", "loss", backend=backend)
    assert [s["step"] for s in of_kind(run, "step")] == [2, 3, 4, 5]  # every 2, each epoch's end, the last
    assert [c["step"] for c in of_kind(run, "checkpoint")] == [2, 4, 5]
    evals = of_kind(run, "eval")
    assert len(evals) == 3 and summary["last_eval"]["step"] == 5
    rates = [s["learning_rate"] for s in of_kind(run, "step")]
    # A step event carries its update's rate: warm-up over update 1, then half a cosine over the 4 after it.
    assert rates == pytest.approx([1e-3 * 0.5 * (1 + np.cos(np.pi * k / 4)) for k in (0, 1, 2, 3)])
    losses = [e["metrics"]["loss"] for e in evals]
    assert summary["best"]["value"] == min(losses) and summary["best"]["greater_is_better"] is False
    # model/ holds the best evaluation's weights: evaluating it on the same backend gives its metrics.
    again = ok("eval", "mrpc", "--model", run, "--backend", backend, "--max-eval-samples", "40", "--json").json()
    best = summary["eval"]["validation"]
    assert again["validation"] == pytest.approx({k: v for k, v in best.items() if k != "loss"}, abs=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_from_a_mid_epoch_checkpoint_ends_with_the_same_metrics(tmp_path, tiny_model, real_glue, backend):
    need(backend)
    knobs = ("--epochs", "2", "--save-steps", "2", "--eval-steps", "2")
    full = train(tmp_path / "full", tiny_model, *knobs, backend=backend)
    args = run_args(tmp_path / "cut", tiny_model, *knobs, backend=backend)
    assert interrupted_at(2, *args).exit_code == 130  # mid-epoch 1 (3 updates an epoch)
    state = json.loads((tmp_path / "cut/checkpoint/state.json").read_text())
    assert (state["step"], state["epoch"], state["epoch_step"]) == (2, 0, 2)
    resumed = ok(*args, "--resume", "--json", "-q").json()
    assert resumed["eval"] == full["eval"] and resumed["best"] == full["best"]
    assert resumed["last_eval"] == full["last_eval"] and resumed["train"]["steps"] == 6
    losses = [s["loss"] for s in of_kind(tmp_path / "full", "step")]
    assert [s["loss"] for s in of_kind(tmp_path / "cut", "step")] == pytest.approx(losses, rel=1e-5)
