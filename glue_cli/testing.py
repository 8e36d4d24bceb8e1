"""The backend conformance suite: what every backend must do, checked on a tiny random BERT.

A backend plugin's own tests call it (``glue plugins new --kind backend`` writes that test)::

    from glue_cli.api import check_backend

    def test_conformance(tmp_path):
        check_backend("my-backend", tmp_path)

Each check trains a few steps through the backend's real engine and raises ``AssertionError``
naming what is wrong: resuming from a checkpoint continues exactly; filler rows (weight 0) change
neither the loss nor the update; gradient accumulation over micro-batches gives the whole batch's
update; each precision the backend claims really computes in that
dtype; the saved folder loads back (in transformers' PyTorch class too, where torch is installed)
with the same logits; a run compiles at most once per batch shape and step kind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glue_cli.data.batching import Batch, iterate, split_rows
from glue_cli.data.features import Encoded
from glue_cli.training import checkpoint
from glue_cli.training.backends import Backend, Engine, ModelSpec, batch_padding, compiles
from glue_cli.training.checkpoint import Position
from glue_cli.training.pipeline import open_backend
from glue_cli.training.tinymodel import make_tiny_bert

ROWS, MAX_LENGTH, VOCAB = 8, 64, 60
# One step's loss and logits may differ by float reordering between a batch and the same
# batch with filler rows, or a model and its saved copy; never by more than this.
TOLERANCE = 1e-4
# The tiny model's logits are about 0.1: half-precision rounding moves them by well under this.
HALF_GAP = 0.05


@dataclass
class Report:
    """What ``check_backend`` checked, for a test to print or assert on."""

    backend: str
    passed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def check_backend(name: str, workdir: Path | None = None, *, checks: tuple[str, ...] | None = None) -> Report:
    """Run the conformance checks (all, or those named) on the registered backend ``name``.

    ``workdir`` receives the tiny models and checkpoints (a temporary folder by default).
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="glue-conformance-") as tmp:
            return check_backend(name, Path(tmp), checks=checks)
    backend = open_backend(name)
    suite = Suite(backend, workdir)
    report = Report(backend.name)
    for check_name, check in CHECKS.items():
        if checks is not None and check_name not in checks:
            continue
        reason = check(suite)
        if reason:
            report.skipped[check_name] = reason
        else:
            report.passed.append(check_name)
    return report


class Suite:
    """A tiny model (with and without dropout), token data of varied lengths, and engines over them."""

    def __init__(self, backend: Backend, workdir: Path) -> None:
        self.backend = backend
        self.workdir = workdir
        self.model = make_tiny_bert(workdir / "tiny-bert", dropout=0.1)
        self.model_no_dropout = make_tiny_bert(workdir / "tiny-bert-no-dropout", dropout=0.0)
        self.data = token_data(32, seed=0)

    def spec(self, precision: str = "fp32", dropout: bool = True, path: str | None = None,
             xla: bool = False) -> ModelSpec:
        model = self.model if dropout else self.model_no_dropout
        # As the trainer builds it: compiling only where the backend compiles (``compiles``).
        return ModelSpec(path=path or str(model), num_labels=2, regression=False, id2label={0: "no", 1: "yes"},
                         precision=precision, seed=7, xla=compiles(self.backend, xla))

    def engine(self, spec: ModelSpec) -> Engine:
        return self.backend.create(spec)

    def batches(self, rows: int = ROWS, xla: bool = False) -> list[Batch]:
        """The data cut and padded as the trainer feeds the backend's engine (``--xla`` or not)."""
        padding = batch_padding(self.backend, xla)
        return list(iterate(self.data, rows, padding.multiple, MAX_LENGTH, fixed_rows=padding.fixed_rows))


def token_data(n: int, seed: int) -> Encoded:
    """``n`` examples of random word-piece ids between [CLS] and [SEP], lengths 5 to 60, labels 0/1."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, MAX_LENGTH - 4, n)
    ids, types = [], []
    for length in lengths:
        body = rng.integers(5, VOCAB, length - 2)
        ids.append(np.concatenate([[2], body, [3]]).astype(np.int32))
        types.append((np.arange(length) >= length // 2).astype(np.int32))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return Encoded(np.concatenate(ids), np.concatenate(types), offsets, rng.integers(0, 2, n).astype(np.int64))


def close(what: str, actual: np.ndarray | float, expected: np.ndarray | float, tolerance: float = TOLERANCE) -> None:
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if a.shape != e.shape or not np.allclose(a, e, rtol=tolerance, atol=tolerance):
        gap = float(np.max(np.abs(a - e))) if a.shape == e.shape else f"shapes {a.shape} vs {e.shape}"
        raise AssertionError(f"{what}: differs by {gap} (tolerance {tolerance})")


def check_resume(suite: Suite) -> str | None:
    """4 steps straight equal 2 steps, a checkpoint, a new engine from it, 2 more steps (dropout on)."""
    batches = suite.batches()[:4]
    straight = suite.engine(suite.spec())
    losses = [straight.train_step(b, 1e-3) for b in batches]
    first = suite.engine(suite.spec())
    for b in batches[:2]:
        first.train_step(b, 1e-3)
    folder = suite.workdir / "resume-checkpoint"
    checkpoint.save(first, folder, Position(2, 1, suite.backend.name))
    position = checkpoint.read(folder)
    resumed = suite.engine(suite.spec(path=checkpoint.model_path(folder)))
    checkpoint.restore(resumed, folder, position, suite.backend.name)
    for step, b in enumerate(batches[2:], start=2):
        close(f"loss of step {step + 1} after resuming", resumed.train_step(b, 1e-3), losses[step], 1e-5)
    close("logits after resuming", resumed.predict(batches[0]), straight.predict(batches[0]), 1e-5)
    return None


def check_filler_rows(suite: Suite) -> str | None:
    """A batch and the same batch with weight-0 filler rows: same loss, same update, same logits."""
    real = suite.batches(rows=5)[0]
    rng = np.random.default_rng(1)
    n, length = real.input_ids.shape
    filler = Batch(
        np.concatenate([real.input_ids, rng.integers(5, VOCAB, (3, length)).astype(np.int32)]),
        np.concatenate([real.attention_mask, np.ones((3, length), np.int32)]),
        np.concatenate([real.token_type_ids, np.zeros((3, length), np.int32)]),
        np.concatenate([real.labels if real.labels is not None else np.zeros(n, np.int64), [1, 0, 1]]),
        np.concatenate([real.example_index, [-1, -1, -1]]),
    )
    plain, padded = suite.engine(suite.spec(dropout=False)), suite.engine(suite.spec(dropout=False))
    close("predict() of the real rows beside filler rows", padded.predict(filler)[:n], plain.predict(real))
    close("loss with filler rows", padded.train_step(filler, 1e-2), plain.train_step(real, 1e-2))
    close("logits after a step with filler rows", padded.predict(real), plain.predict(real))
    return None


def check_accumulation(suite: Suite) -> str | None:
    """``train_micro_batches`` (plugin API 2.1, optional) on a batch's halves gives the whole batch's
    update: same loss, same logits after it (dropout off)."""
    whole = suite.batches(rows=ROWS)[:2]
    one, split = suite.engine(suite.spec(dropout=False)), suite.engine(suite.spec(dropout=False))
    accumulate = getattr(split, "train_micro_batches", None)
    if accumulate is None:
        return "the engine has no train_micro_batches (plugin API 2.0): the core trains the joined batch"
    for step, batch in enumerate(whole, start=1):
        close(f"loss of accumulated update {step}", accumulate(split_rows(batch, ROWS // 2), 1e-2),
              one.train_step(batch, 1e-2), 1e-5)
    close("logits after accumulated updates", split.predict(whole[0]), one.predict(whole[0]), 1e-5)
    return None


def check_precisions(suite: Suite) -> str | None:
    """Every precision the backend claims on its default device trains, and really computes in its dtype.

    Same weights, same batch: half-precision logits must differ from fp32's (rounding the weights
    and activations to 8 or 11 bits changes them), though not by more than ``HALF_GAP``. Equal
    logits mean the model still computes in fp32. (Checking that every logit is a bf16 number would
    be stricter, but XLA may keep the last product in fp32: ``xla_allow_excess_precision``.)
    """
    batch = suite.batches()[0]
    device = suite.backend.devices()[0]
    reference = suite.engine(suite.spec(dropout=False)).predict(batch)
    for precision in suite.backend.precisions(device):
        engine = suite.engine(suite.spec(precision=precision, dropout=False))
        logits = np.asarray(engine.predict(batch), np.float32)
        gap = float(np.max(np.abs(logits - reference)))
        if precision != "fp32" and gap == 0.0:
            raise AssertionError(f"{precision}: logits equal fp32's: the model does not compute in {precision}")
        if gap > HALF_GAP:
            raise AssertionError(f"{precision}: logits differ from fp32's by {gap}: more than rounding explains")
        if not np.isfinite(engine.train_step(batch, 1e-3)):
            raise AssertionError(f"{precision}: the training loss is not finite")
    return None


def check_saved_model(suite: Suite) -> str | None:
    """save_model writes a folder the backend itself and transformers' PyTorch class read with the same logits."""
    batch = suite.batches()[0]
    engine = suite.engine(suite.spec(dropout=False))
    engine.train_step(batch, 1e-2)
    expected = engine.predict(batch)
    folder = suite.workdir / "saved-model"
    engine.save_model(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("architectures") != ["BertForSequenceClassification"]:
        raise AssertionError(f"config.json architectures is {config.get('architectures')}, "
                             "not the PyTorch class name BertForSequenceClassification")
    close("logits of the saved model, loaded by the same backend",
          suite.engine(suite.spec(dropout=False, path=str(folder))).predict(batch), expected)
    if torch_logits := logits_in_pytorch(folder, batch):
        close("logits of the saved model in transformers' PyTorch class", np.array(torch_logits), expected)
        return None
    return "torch is not installed here: the saved folder was not loaded in PyTorch"


def logits_in_pytorch(folder: Path, batch: Batch) -> list[list[float]] | None:
    """The saved model's logits from ``AutoModelForSequenceClassification``, in a process of its own
    (transformers decides once per process which frameworks it serves). None without torch."""
    script = (
        "import json, sys, torch\n"
        "from transformers import AutoModelForSequenceClassification\n"
        "inputs = json.load(sys.stdin)\n"
        "model = AutoModelForSequenceClassification.from_pretrained(inputs.pop('folder')).eval()\n"
        "with torch.no_grad():\n"
        "    out = model(**{k: torch.tensor(v) for k, v in inputs.items()}).logits\n"
        "print(json.dumps(out.tolist()))\n"
    )
    payload = json.dumps({
        "folder": str(folder), "input_ids": batch.input_ids.tolist(),
        "attention_mask": batch.attention_mask.tolist(), "token_type_ids": batch.token_type_ids.tolist(),
    })
    env = {**os.environ, "USE_TORCH": "1", "USE_TF": "0", "USE_FLAX": "0", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], input=payload, capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode != 0:
        if "No module named 'torch'" in done.stderr:
            return None
        raise AssertionError(f"transformers' PyTorch class cannot load the saved model: {done.stderr.strip()[-500:]}")
    result: list[list[float]] = json.loads(done.stdout)
    return result


def check_compile_count(suite: Suite) -> str | None:
    """With and without ``xla``: a step compiles at most once per batch shape and step kind, however
    many batches run, and the batches have the shapes the backend's ``padding`` asks for."""
    for xla in (False, True):
        padding = batch_padding(suite.backend, xla)
        engine = suite.engine(suite.spec(xla=xla))
        # Compiling is slow on a CPU: with xla, two of the batch shapes, each run twice, tell as much.
        batches = suite.batches(xla=xla)[: 2 if xla else None] * 2
        for b in batches:
            engine.train_step(b, 1e-3)
            engine.predict(b)
        shapes = len({b.shape for b in batches})
        mode = "with xla" if xla else "without xla"
        if engine.compile_count() > 2 * shapes:
            raise AssertionError(f"{mode}: compile_count() is {engine.compile_count()} after {len(batches)} "
                                 f"training and predicting steps over {shapes} batch shapes: at most "
                                 f"{2 * shapes} allowed")
        if padding.fixed_rows and {b.shape[0] for b in batches} != {ROWS}:
            raise AssertionError(f"{mode}: fixed rows asked, yet batches of {sorted({b.shape[0] for b in batches})} "
                                 "rows reached the engine")
    return None


CHECKS: dict[str, Callable[[Suite], str | None]] = {
    "resume": check_resume,
    "filler_rows": check_filler_rows,
    "accumulation": check_accumulation,
    "precisions": check_precisions,
    "saved_model": check_saved_model,
    "compile_count": check_compile_count,
}
