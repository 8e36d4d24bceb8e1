"""Length-grouped batching: the epoch order every backend trains in, and length-sorted evaluation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from glue_cli.api import BackendBase
from glue_cli.cli import build_app
from glue_cli.data.batching import (
    MEGA_BATCH,
    Padding,
    batch_tokens,
    epoch_order,
    grouped_order,
    iterate,
    length_order,
    padded_length,
    train_order,
)
from glue_cli.data.features import Encoded
from glue_cli.plugins import manager as plugins
from glue_cli.plugins.hookspecs import hookimpl
from glue_cli.training.backends import ModelSpec
from glue_cli.training.evaluation import split_logits
from helpers import Result, reset_plugins

RNG = np.random.default_rng(0)
# Skewed like GLUE pairs: most short, a long tail.
LENGTHS = np.clip(RNG.gamma(4, 13, size=1000).astype(np.int64) + 5, 5, 128)


def encoded(lengths) -> Encoded:
    lengths = np.asarray(lengths, dtype=np.int64)
    ids = [np.arange(1, n + 1, dtype=np.int32) + i for i, n in enumerate(lengths)]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return Encoded(np.concatenate(ids), np.zeros(int(lengths.sum()), np.int32), offsets,
                   np.arange(len(lengths)) % 2)


def batches_of(order: np.ndarray, size: int) -> list[np.ndarray]:
    return [order[i : i + size] for i in range(0, len(order), size)]


@pytest.mark.parametrize("n,size", [(1000, 32), (1000, 7), (32, 32), (5, 32), (1, 1), (3201, 32)])
def test_every_example_exactly_once_per_epoch(n, size):
    for epoch in range(3):
        order = grouped_order(np.resize(LENGTHS, n), size, seed=42, epoch=epoch)
        assert sorted(order.tolist()) == list(range(n))
        # Only the last batch may be partial: iterate cuts the order into slices of `size`.
        assert all(len(b) == size for b in batches_of(order, size)[:-1])


def test_order_is_a_pure_function_of_seed_epoch_and_lengths():
    a = grouped_order(LENGTHS, 32, seed=42, epoch=1)
    assert (a == grouped_order(LENGTHS.copy(), 32, seed=42, epoch=1)).all()
    assert not (a == grouped_order(LENGTHS, 32, seed=42, epoch=2)).all()
    assert not (a == grouped_order(LENGTHS, 32, seed=7, epoch=1)).all()
    assert (train_order(LENGTHS, 32, 42, 1) == a).all()  # grouping is the default
    assert (train_order(LENGTHS, 32, 42, 1, group_by_length=False) == epoch_order(1000, 42, 1)).all()


def test_longest_batch_first_then_shuffled_not_sorted():
    order = grouped_order(LENGTHS, 32, seed=42, epoch=0)
    longest = [int(LENGTHS[b].max()) for b in batches_of(order, 32)]
    assert longest[0] == LENGTHS.max() == max(longest)
    # The batch order is shuffled again: not simply longest to shortest.
    assert longest[1:] != sorted(longest[1:], reverse=True)


def test_batches_hold_similar_lengths_drawn_from_mega_batches():
    order = grouped_order(LENGTHS, 8, seed=3, epoch=0)
    span = MEGA_BATCH * 8
    shuffled = epoch_order(len(LENGTHS), 3, 0)
    mega_of = {int(i): k // span for k, i in enumerate(shuffled)}
    for batch in batches_of(order, 8):
        assert len({mega_of[int(i)] for i in batch}) == 1  # never mixes two mega-batches
        assert (np.diff(LENGTHS[batch]) <= 0).all()  # sorted inside, longest first


def test_resuming_mid_epoch_yields_the_remaining_batches():
    data = encoded(LENGTHS[:300])
    full = list(iterate(data, 32, 8, 128, order=train_order(data.lengths, 32, 5, 1)))
    # A resumed process recomputes the order from (seed, epoch, lengths) and skips what it saw.
    resumed = list(iterate(data, 32, 8, 128, order=train_order(data.lengths, 32, 5, 1), skip=4))
    assert [b.example_index.tolist() for b in resumed] == [b.example_index.tolist() for b in full[4:]]


def test_padding_efficiency_from_the_batches():
    data = encoded(LENGTHS)
    for group in (False, True):
        order = train_order(data.lengths, 32, 42, 0, group)
        batches = list(iterate(data, 32, 16, 128, order=order, fixed_rows=True))
        real = sum(int(b.attention_mask.sum()) for b in batches)
        processed = sum(b.attention_mask.size for b in batches)
        counted = batch_tokens(data.lengths, order, 32, 16, 128, fixed_rows=True)
        assert (sum(c[1] for c in counted), sum(c[2] for c in counted)) == (real, processed)


def test_real_mrpc_training_batches_are_over_95_percent_real_tokens(real_glue):
    from glue_cli.data.features import encode
    from glue_cli.data.glue_folder import read_glue_split
    from glue_cli.training.models import bundled_model_path, load_tokenizer
    from glue_plugins.glue_tasks import TASKS

    try:
        model = bundled_model_path()
    except Exception:
        pytest.skip("the bundled model is not installed")
    task = next(t for t in TASKS if t.name == "mrpc")
    data = encode(read_glue_split(task, real_glue / "MRPC", "train"), load_tokenizer(str(model)), 128)

    def efficiency(order: np.ndarray, multiple: int) -> float:
        batches = list(iterate(data, 32, multiple, 128, order=order))
        return sum(int(b.attention_mask.sum()) for b in batches) / sum(b.attention_mask.size for b in batches)

    for epoch in range(3):
        grouped = train_order(data.lengths, 32, 42, epoch)
        mixed = train_order(data.lengths, 32, 42, epoch, group_by_length=False)
        # Exact padding (each batch to its longest row): grouping alone.
        assert efficiency(grouped, 1) >= 0.95 > 0.75 > efficiency(mixed, 1)
        # Coarser length buckets cost a few points more, never the grouping's gain.
        for multiple in (4, 8, 16):
            assert efficiency(grouped, multiple) > efficiency(mixed, multiple) + 0.2


@pytest.mark.parametrize("backend_name", ["torch", "tf", "flax"])
@pytest.mark.parametrize("xla", [False, True])
def test_each_backends_padding_keeps_mrpc_batches_over_95_percent_real_in_few_shapes(real_glue, backend_name, xla,
                                                                                   monkeypatch):
    """What each first-party backend asks for on a CPU, with --xla and without: >= 0.95 real tokens on
    MRPC's training batches, and a compiling step sees at most max_length / multiple lengths."""
    from glue_cli.data.features import encode
    from glue_cli.data.glue_folder import read_glue_split
    from glue_cli.training.models import bundled_model_path, load_tokenizer
    from glue_plugins.flax_backend.backend import FlaxBackend
    from glue_plugins.glue_tasks import TASKS
    from glue_plugins.tf_backend.backend import TFBackend
    from glue_plugins.torch_backend.backend import TorchBackend

    try:
        model = bundled_model_path()
    except Exception:
        pytest.skip("the bundled model is not installed")
    backend = {"torch": TorchBackend, "tf": TFBackend, "flax": FlaxBackend}[backend_name]()
    # The device given: no framework imported. tf and torch compile on a GPU only unless forced on a CPU.
    monkeypatch.setenv("GLUE_TORCH_COMPILE_ON_CPU", "1")
    padding = backend.padding(xla, "gpu:0" if backend_name == "tf" else "cpu")
    compiles = xla or backend_name == "flax"  # flax: jit whatever the flag
    assert (padding.multiple > 1) == compiles and padding.fixed_rows == compiles
    task = next(t for t in TASKS if t.name == "mrpc")
    data = encode(read_glue_split(task, real_glue / "MRPC", "train"), load_tokenizer(str(model)), 128)
    real = processed = 0
    lengths = set()
    for epoch in range(3):
        order = train_order(data.lengths, 32, 42, epoch)
        for batch in iterate(data, 32, padding.multiple, 128, order=order, fixed_rows=padding.fixed_rows):
            real += int(batch.attention_mask.sum())
            processed += batch.attention_mask.size
            lengths.add(batch.shape[1])
    assert real / processed >= 0.95
    if compiles:
        assert len(lengths) <= padding.shapes(128) == 32


def test_evaluation_goes_longest_first_and_puts_logits_back_in_file_order():
    data = encoded(LENGTHS[:150])
    fed: list[tuple[int, ...]] = []

    class Engine:
        """Logits from each row's own tokens: the same whatever batch the row is in."""

        def predict(self, batch):
            fed.append(tuple(batch.input_ids.shape))
            first = batch.input_ids[:, 0].astype(np.float32)
            return np.stack([first, batch.attention_mask.sum(1).astype(np.float32)], axis=1)

    logits = split_logits(Engine(), Padding(16, fixed_rows=True), data, 16, 128, 0, 2)
    assert logits[:, 1].tolist() == data.lengths.tolist()  # row i holds example i's logits
    assert logits[:, 0].tolist() == [float(i + 1) for i in range(150)]
    assert fed[0][1] == padded_length(int(data.lengths.max()), 16, 128)
    assert [shape[1] for shape in fed] == sorted((shape[1] for shape in fed), reverse=True)
    assert (length_order(data.lengths)[:3] == np.argsort(-data.lengths, kind="stable")[:3]).all()


def test_sorted_evaluation_matches_file_order_evaluation_on_a_model(tiny_model, real_glue):
    pytest.importorskip("torch")
    from glue_cli.training.pipeline import prepare_data
    from glue_plugins.torch_backend.backend import TorchBackend

    backend = TorchBackend()
    p = prepare_data("mrpc", "torch", str(tiny_model), None, ["validation"], 128, {"validation": 70})
    engine = backend.create(ModelSpec(path=str(tiny_model), num_labels=2, regression=False,
                                      id2label={0: "0", 1: "1"}))
    data = p.encoded["validation"]
    unsorted = np.zeros((len(data), 2), np.float32)
    for batch in iterate(data, 16, backend.pad_multiple, 128):  # file order, as before
        unsorted[batch.example_index] = np.asarray(engine.predict(batch))
    np.testing.assert_allclose(split_logits(engine, p.padding, data, 16, 128, 0, 2), unsorted, atol=1e-5)


class RecordingEngine:
    """Trains nothing: writes down the example indices of every batch it is handed."""

    device = "cpu"

    def __init__(self, log: list[list[int]], model: str) -> None:
        self.log, self.model = log, model

    def train_step(self, batch, learning_rate):
        self.log.append([int(i) for i in batch.example_index if i >= 0])
        return 0.5

    def predict(self, batch):
        return np.zeros((batch.input_ids.shape[0], 2), np.float32)

    def save_model(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(self.model) / "config.json", path / "config.json")

    def save_state(self, path: Path) -> None:
        (path / "fake_state.json").write_text("{}")

    def load_state(self, path: Path) -> None:
        pass

    def compile_count(self) -> int:
        return 0


def fake_backend(name: str, pad_multiple: int, fixed_rows: bool, log: list[list[int]]):
    class Fake(BackendBase):  # the defaults: available, cpu, fp32
        framework = "torch"
        fixed_batch_rows = fixed_rows

        def create(self, spec):
            return RecordingEngine(log, spec.path)

    Fake.name, Fake.pad_multiple = name, pad_multiple
    return Fake()


def train_with(backends, *args: str) -> Result:
    class Plugin:
        @hookimpl
        def glue_register_backends(self, register):
            for backend in backends:
                register(backend)

    reset_plugins()
    plugins.get_plugins().pm.register(Plugin(), name="speed-fakes")
    result = CliRunner().invoke(build_app(), [str(a) for a in args])
    reset_plugins()
    return Result(result.exit_code, result.stdout, result.stderr, result.exception)


def test_every_backend_is_fed_the_same_order_and_it_is_recorded(tmp_path, tiny_model, real_glue):
    logs: dict[str, list[list[int]]] = {"like-torch": [], "like-xla": []}
    fakes = [fake_backend("like-torch", 8, False, logs["like-torch"]),
             fake_backend("like-xla", 16, True, logs["like-xla"])]
    for name in logs:
        result = train_with(fakes, "train", "mrpc", "--backend", name, "--model", tiny_model, "--output-dir",
                            tmp_path / name, "--max-train-samples", "100", "--max-eval-samples", "8",
                            "--batch-size", "16", "--epochs", "2", "--quiet")
        assert result.exit_code == 0, (result.stderr, result.exception)
    assert logs["like-torch"] == logs["like-xla"]
    steps = logs["like-torch"]
    assert len(steps) == 2 * 7
    for epoch in (steps[:7], steps[7:]):
        assert sorted(i for batch in epoch for i in batch) == list(range(100))
    config = json.loads((tmp_path / "like-torch" / "config.json").read_text())
    assert config["group_by_length"] is True

    off: list[list[int]] = []
    result = train_with([fake_backend("plain", 8, False, off)], "train", "mrpc", "--backend", "plain", "--model",
                        tiny_model, "--output-dir", tmp_path / "off", "--max-train-samples", "100",
                        "--max-eval-samples", "8", "--batch-size", "16", "--epochs", "1", "--quiet",
                        "--no-group-by-length")
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert [i for b in off for i in b] == epoch_order(100, 42, 0).tolist()
    assert json.loads((tmp_path / "off" / "config.json").read_text())["group_by_length"] is False


def test_the_trainer_pads_as_the_backend_asks_for_the_mode(tmp_path, tiny_model, real_glue):
    """``padding(xla, device)``: each batch, trained or evaluated, has the shape asked for that mode."""
    shapes: dict[bool, list[tuple[int, int]]] = {False: [], True: []}

    class ShapeEngine(RecordingEngine):
        def __init__(self, model: str, xla: bool) -> None:
            super().__init__([], model)
            self.xla = xla

        def train_step(self, batch, learning_rate):
            shapes[self.xla].append(batch.shape)
            return 0.5

        def predict(self, batch):
            shapes[self.xla].append(batch.shape)
            return super().predict(batch)

    class ModalBackend(BackendBase):
        name, framework = "modal", "torch"

        def padding(self, xla, device=None):
            return Padding(32, fixed_rows=True) if xla else Padding(1)

        def create(self, spec):
            return ShapeEngine(spec.path, spec.xla)

    for xla in (False, True):
        result = train_with([ModalBackend()], "train", "mrpc", "--backend", "modal", "--model", tiny_model,
                            "--output-dir", tmp_path / str(xla), "--max-train-samples", "100",
                            "--max-eval-samples", "20", "--batch-size", "16", "--eval-batch-size", "16", "--epochs",
                            "1", "--quiet", *(["--xla"] if xla else []))
        assert result.exit_code == 0, (result.stderr, result.exception)
    assert {rows for rows, _ in shapes[True]} == {16} and {n % 32 for _, n in shapes[True]} <= {0, 128 % 32}
    assert {rows for rows, _ in shapes[False]} == {16, 4}  # 100 = 6 x 16 + 4; the 20 dev rows: 16 + 4
    assert any(n % 8 for _, n in shapes[False])  # exact lengths, not rounded up
