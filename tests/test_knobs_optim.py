"""--gradient-accumulation-steps, --lr-scheduler/--warmup-steps, --adam-beta1/2/epsilon, --label-smoothing:
the same meaning on every backend, each changing what it should and nothing else."""

import json

import numpy as np
import pytest
from knobs_helpers import of_kind, ok
from safetensors.numpy import load_file

from glue_cli.backends import ModelSpec
from glue_cli.batching import Batch, concat_rows, split_rows
from glue_cli.engine_base import batch_targets
from glue_cli.optimization import OptimizerSettings, Schedule
from glue_cli.plugins import get_backends
from glue_cli.tinymodel import make_tiny_bert
from helpers import FRAMEWORK_MODULES, framework_installed, glue

BACKENDS = [pytest.param(b, marks=pytest.mark.skipif(not framework_installed(b), reason=f"{b} not installed"))
            for b in FRAMEWORK_MODULES]


@pytest.fixture(scope="module")
def no_dropout_model(tmp_path_factory):
    """Dropout off: one forward of 32 rows and two of 16 then see the same network."""
    return make_tiny_bert(tmp_path_factory.mktemp("nodrop") / "bert", dropout=0.0)


def run(tmp_path, model, backend, *extra):
    args = ("train", "mrpc", "--backend", backend, "--model", model, "--output-dir", tmp_path,
            "--max-train-samples", "48", "--max-eval-samples", "40", "--learning-rate", "1e-3", "--epochs", "1",
            "--json", "-q", *extra)
    return ok(*args).json()


@pytest.mark.parametrize("backend", BACKENDS)
def test_accumulation_gives_the_updates_of_the_bigger_batch(tmp_path, no_dropout_model, real_glue, backend):
    big = run(tmp_path / "big", no_dropout_model, backend, "--batch-size", "32")
    acc = run(tmp_path / "acc", no_dropout_model, backend, "--batch-size", "16", "--gradient-accumulation-steps", "2")
    small = run(tmp_path / "small", no_dropout_model, backend, "--batch-size", "16")
    assert big["train"]["steps"] == acc["train"]["steps"] == 2 and small["train"]["steps"] == 3
    big_steps, acc_steps = of_kind(tmp_path / "big", "step"), of_kind(tmp_path / "acc", "step")
    assert [s["examples"] for s in acc_steps] == [s["examples"] for s in big_steps] == [32, 16]
    assert [s["loss"] for s in acc_steps] == pytest.approx([s["loss"] for s in big_steps], rel=1e-5)
    a, b = load_file(tmp_path / "acc/model/model.safetensors"), load_file(tmp_path / "big/model/model.safetensors")
    for name, value in b.items():
        np.testing.assert_allclose(a[name], value, atol=2e-6, err_msg=name)
    assert acc["eval"]["validation"] == pytest.approx(big["eval"]["validation"], abs=1e-6)
    assert [s["loss"] for s in acc_steps] != pytest.approx([s["loss"] for s in of_kind(tmp_path / "small", "step")][:2])


def test_micro_batches_split_and_join_back():
    ids = np.arange(20, dtype=np.int32).reshape(5, 4)
    batch = Batch(ids, np.ones_like(ids), np.zeros_like(ids), np.arange(5), np.array([0, 1, 2, 3, -1]))
    parts = split_rows(batch, 2)
    assert [p.shape for p in parts] == [(2, 4), (2, 4), (1, 4)]
    joined = concat_rows(parts)
    for field in ("input_ids", "attention_mask", "token_type_ids", "labels", "example_index"):
        np.testing.assert_array_equal(getattr(joined, field), getattr(batch, field))


@pytest.mark.parametrize("kind,hf", [
    ("linear", "_get_linear_schedule_with_warmup_lr_lambda"),
    ("cosine", "_get_cosine_schedule_with_warmup_lr_lambda"),
    ("constant-with-warmup", "_get_constant_schedule_with_warmup_lr_lambda"),
    ("constant", "_get_constant_lambda"),
])
def test_schedules_are_transformers_own(kind, hf):
    optimization = pytest.importorskip("transformers.optimization")
    ours = Schedule(2e-5, 100, 10, kind)
    args = {"linear": dict(num_warmup_steps=10, num_training_steps=100),
            "cosine": dict(num_warmup_steps=10, num_training_steps=100, num_cycles=0.5),
            "constant-with-warmup": dict(num_warmup_steps=10), "constant": {}}[kind]
    for step in range(0, 101):
        expected = 2e-5 * getattr(optimization, hf)(step, **args)
        assert ours.rate(step) == pytest.approx(expected, abs=1e-12), step


def test_lr_scheduler_and_warmup_steps_reach_every_step(tmp_path, tiny_model, real_glue):
    run(tmp_path / "c", tiny_model, "torch", "--batch-size", "16", "--lr-scheduler", "constant-with-warmup",
        "--warmup-steps", "2")
    assert [s["learning_rate"] for s in of_kind(tmp_path / "c", "step")] == pytest.approx([0.0, 5e-4, 1e-3])
    run(tmp_path / "k", tiny_model, "torch", "--batch-size", "16", "--lr-scheduler", "cosine")
    assert [s["learning_rate"] for s in of_kind(tmp_path / "k", "step")] == pytest.approx([1e-3, 7.5e-4, 2.5e-4])
    assert json.loads((tmp_path / "k/config.json").read_text())["lr_scheduler"] == "cosine"
    bad = glue("train", "mrpc", "--model", tiny_model, "--output-dir", tmp_path / "x", "--lr-scheduler", "step")
    assert bad.exit_code == 2 and "constant-with-warmup" in bad.stderr


def engine(backend, model, **spec):
    return get_backends().get(backend).create(ModelSpec(
        path=str(model), num_labels=2, regression=False, id2label={0: "0", 1: "1"}, **spec))


def a_batch():
    ids = np.array([[2, 10, 11, 12, 3, 0, 0, 0], [2, 13, 14, 3, 15, 16, 3, 0], [2, 20, 3, 0, 0, 0, 0, 0]], np.int32)
    return Batch(ids, (ids > 0).astype(np.int32), np.zeros_like(ids), np.array([0, 1, 1]), np.array([0, 1, 2]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_label_smoothing_is_the_smoothed_cross_entropy(no_dropout_model, backend):
    batch = a_batch()
    for smoothing in (0.0, 0.2):
        e = engine(backend, no_dropout_model, label_smoothing=smoothing)
        logits = e.predict(batch).astype(np.float64)
        log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        targets = (1 - smoothing) * np.eye(2)[batch.labels] + smoothing / 2
        expected = float(-(targets * log_p).sum(-1).mean())
        assert e.train_step(batch, 1e-3) == pytest.approx(expected, rel=1e-5), smoothing
    spec = ModelSpec(path="x", num_labels=3, regression=False, id2label={}, label_smoothing=0.3)
    np.testing.assert_allclose(batch_targets(batch, spec)[0], [0.8, 0.1, 0.1], rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_adam_betas_and_epsilon_change_the_updates_not_the_first_loss(no_dropout_model, backend):
    batch = a_batch()

    def losses(**settings):
        e = engine(backend, no_dropout_model, optimizer=OptimizerSettings(**settings))
        return [e.train_step(batch, 1e-2) for _ in range(3)]

    default = losses()
    assert losses() == pytest.approx(default, rel=1e-6)
    for changed in (losses(beta1=0.5), losses(beta2=0.5), losses(epsilon=1e-1)):
        assert changed[0] == pytest.approx(default[0], rel=1e-6)  # same model until the first update
        assert changed[1:] != pytest.approx(default[1:], rel=1e-6)


def test_adam_flags_reach_the_model_spec(tmp_path, tiny_model, real_glue, monkeypatch):
    from glue_plugins.torch_backend.backend import TorchBackend

    pytest.importorskip("torch")
    seen = []
    original = TorchBackend.create
    monkeypatch.setattr(TorchBackend, "create", lambda self, spec: seen.append(spec) or original(self, spec))
    run(tmp_path / "r", tiny_model, "torch", "--max-train-samples", "16", "--adam-beta1", "0.8", "--adam-beta2",
        "0.98", "--adam-epsilon", "1e-6", "--label-smoothing", "0.1")
    assert seen[0].optimizer == OptimizerSettings(beta1=0.8, beta2=0.98, epsilon=1e-6)
    assert seen[0].label_smoothing == 0.1


def test_an_engine_that_accumulates_wrongly_fails_the_conformance_suite(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from glue_cli.testing import check_backend
    from glue_plugins.torch_backend.engine import TorchEngine

    # Only the first micro-batch trained: not the joined batch's update.
    monkeypatch.setattr(TorchEngine, "train_micro_batches",
                        lambda self, batches, rate: self.train_step(batches[0], rate))
    with pytest.raises(AssertionError, match="accumulated update"):
        check_backend("torch", tmp_path, checks=("accumulation",))
