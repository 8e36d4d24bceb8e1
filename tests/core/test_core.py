"""Batching, schedule, metrics, config precedence: the parts every backend relies on."""

import json

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score

from glue_cli import config as cfg
from glue_cli.data.batching import epoch_order, iterate, padded_length
from glue_cli.data.features import Encoded
from glue_cli.errors import ConfigError
from glue_cli.training import metrics
from glue_cli.training.optimization import Schedule, decays


def encoded(lengths, labels=None):
    ids = [np.arange(1, n + 1, dtype=np.int32) for n in lengths]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return Encoded(np.concatenate(ids), np.zeros(sum(lengths), np.int32), offsets,
                   np.asarray(labels if labels is not None else [0] * len(lengths)))


def test_padded_length_rounds_up_to_the_multiple_and_caps():
    assert padded_length(53, 8, 128) == 56
    assert padded_length(64, 8, 128) == 64
    assert padded_length(127, 16, 128) == 128
    assert padded_length(200, 16, 128) == 128
    assert len({padded_length(n, 16, 128) for n in range(1, 129)}) == 8


def test_batches_cover_every_example_once_and_pad_per_batch():
    data = encoded([5, 17, 3, 9, 30, 2, 8], labels=[0, 1, 0, 1, 1, 0, 1])
    order = epoch_order(len(data), seed=42, epoch=0)
    batches = list(iterate(data, 3, 8, 128, order=order))
    seen = np.concatenate([b.example_index for b in batches])
    assert sorted(seen) == list(range(7))
    for b in batches:
        longest = max(data.lengths[b.example_index])
        assert b.input_ids.shape[1] == padded_length(longest, 8, 128)
        assert (b.attention_mask.sum(1) == data.lengths[b.example_index]).all()
        assert (b.labels == data.labels[b.example_index]).all()


def test_fixed_rows_pads_the_last_batch_with_weightless_filler():
    data = encoded([4, 4, 4, 4, 4])
    last = list(iterate(data, 4, 16, 128, fixed_rows=True))[-1]
    assert last.input_ids.shape == (4, 16)
    assert last.num_examples == 1
    assert list(last.weights) == [1, 0, 0, 0]


def test_epoch_order_is_seeded_and_changes_by_epoch():
    a, b = epoch_order(100, 42, 0), epoch_order(100, 42, 0)
    assert (a == b).all()
    assert not (a == epoch_order(100, 42, 1)).all()
    assert not (a == epoch_order(100, 7, 0)).all()


def test_skip_resumes_mid_epoch():
    data = encoded([3] * 10)
    order = epoch_order(10, 1, 0)
    full = list(iterate(data, 3, 8, 128, order=order))
    resumed = list(iterate(data, 3, 8, 128, order=order, skip=2))
    assert [list(b.example_index) for b in resumed] == [list(b.example_index) for b in full[2:]]


def test_schedule_matches_transformers():
    torch = pytest.importorskip("torch")
    from transformers import get_linear_schedule_with_warmup

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2e-5)
    hf = get_linear_schedule_with_warmup(opt, num_warmup_steps=10, num_training_steps=100)
    ours = Schedule(2e-5, 100, 10)
    for step in range(100):
        assert ours.rate(step) == pytest.approx(hf.get_last_lr()[0], rel=1e-9, abs=1e-15)
        opt.step()
        hf.step()
    assert Schedule.from_ratio(1.0, 345, 0.1).warmup_steps == 35


def test_weight_decay_skips_biases_and_layer_norms():
    assert decays("encoder.layer.0.attention.self.query.weight")
    assert not decays("encoder.layer.0.attention.self.query.bias")
    assert not decays("embeddings.LayerNorm.weight")


def test_metrics_agree_with_sklearn_and_scipy():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    got = metrics.compute(("f1", "accuracy"), y, p)
    assert got["f1"] == pytest.approx(f1_score(y, p))
    assert got["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert got["combined_score"] == pytest.approx((got["f1"] + got["accuracy"]) / 2)
    a, b = rng.normal(size=50), rng.normal(size=50)
    reg = metrics.compute(("pearson", "spearmanr"), a, b)
    assert reg["pearson"] == pytest.approx(stats.pearsonr(a, b)[0])
    assert reg["spearmanr"] == pytest.approx(stats.spearmanr(a, b)[0])
    assert list(metrics.compute(("accuracy",), y, p)) == ["accuracy"]


def test_config_precedence_flag_env_file_default(tmp_path, monkeypatch):
    file = tmp_path / "run.toml"
    file.write_text('epochs = 5\nbatch_size = 8\nlearning_rate = 1e-4\nseed = 1\n')
    monkeypatch.setenv("GLUE_BATCH_SIZE", "16")
    monkeypatch.setenv("GLUE_LEARNING_RATE", "3e-5")
    c = cfg.resolve({"task": "mrpc", "learning_rate": 5e-5}, file)
    assert c.learning_rate == 5e-5  # flag
    assert c.batch_size == 16  # env over file
    assert c.epochs == 5  # file over default
    assert c.max_seq_length == 128  # default
    (tmp_path / "run.json").write_text(json.dumps({"epochs": 2, "amp": True}))
    c = cfg.resolve({"task": "mrpc"}, tmp_path / "run.json")
    assert (c.epochs, c.amp) == (2, True)


def test_eval_and_predict_take_settings_from_the_environment_too(monkeypatch):
    monkeypatch.delenv("GLUE_BACKEND", raising=False)
    assert (cfg.setting("backend"), cfg.setting("max_seq_length")) == ("torch", 128)
    monkeypatch.setenv("GLUE_BACKEND", "flax")
    monkeypatch.setenv("GLUE_MAX_SEQ_LENGTH", "64")
    assert (cfg.setting("backend"), cfg.setting("max_seq_length")) == ("flax", 64)


def test_config_errors_are_user_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("GLUE_EPOCHS", "three")
    with pytest.raises(ConfigError, match="GLUE_EPOCHS: epochs = 'three' is not a valid int"):
        cfg.resolve({"task": "mrpc"})
    monkeypatch.delenv("GLUE_EPOCHS")
    (tmp_path / "bad.json").write_text('{"epochz": 3}')
    with pytest.raises(ConfigError, match="unknown setting"):
        cfg.resolve({"task": "mrpc"}, tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="--batch-size must be at least 1"):
        cfg.resolve({"task": "mrpc", "batch_size": 0})
