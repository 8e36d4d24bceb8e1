"""What every engine does the same way whatever its framework, written once.

A backend's engine subclasses ``EngineBase`` and supplies only its framework's part: one
training step, logits, its weights in PyTorch naming and its optimizer/RNG state as named
arrays. Writing the Hugging Face folder, the state files and checking that a checkpoint fits
the model happen here, so no backend repeats them.

Example (the shape of every first-party engine)::

    class MyEngine(EngineBase):
        def __init__(self, spec: ModelSpec) -> None:
            super().__init__(spec, device="cpu")
            self.model = load(spec.path, **label_arguments(spec))
        def train_step(self, batch, learning_rate): ...
        def predict(self, batch): ...  # self.model(**self.model_inputs(batch))
        def model_config(self): return self.model.config
        def architecture(self): return type(self.model).__name__
        def weights(self): return {name: array for name, array in ...}
        def state_arrays(self): ...
        def restore_state(self, arrays): ...
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from glue_cli.data.batching import Batch, concat_rows
from glue_cli.errors import ModelError
from glue_cli.runs.guards import first_line
from glue_cli.training.backends import ModelSpec
from glue_cli.training.weights import WEIGHTS

# Inside a checkpoint folder: the engine's named arrays, and its small JSON-able extras.
STATE_ARRAYS = "optimizer.safetensors"
STATE_INFO = "engine_state.json"


def label_arguments(spec: ModelSpec) -> dict[str, Any]:
    """The keyword arguments every transformers ``from_pretrained``/config call gets for the task's head."""
    return {
        "num_labels": spec.num_labels,
        "id2label": spec.id2label,
        "label2id": {label: i for i, label in spec.id2label.items()},
        "problem_type": "regression" if spec.regression else "single_label_classification",
    }


def quiet_transformers(verbose: bool) -> None:
    """transformers' "newly initialized head" notice is expected when fine-tuning: shown with --verbose only."""
    if not verbose:
        from transformers.utils import logging

        logging.set_verbosity_error()


def load_error(spec: ModelSpec, framework: str, exc: BaseException) -> ModelError:
    """The one line for a model folder (or hub id) a framework cannot load."""
    return ModelError(
        f"Cannot load model {spec.path!r} with {framework}: {first_line(exc)}",
        "Pass --model with a folder holding config.json and model.safetensors weights.",
    )


def batch_labels(batch: Batch, regression: bool) -> np.ndarray:
    """The batch's gold labels as the loss wants them: float32 scores or int32 class ids."""
    if batch.labels is None:
        return np.zeros(batch.input_ids.shape[0], np.float32 if regression else np.int32)
    return batch.labels.astype(np.float32 if regression else np.int32)


def batch_targets(batch: Batch, spec: ModelSpec) -> np.ndarray:
    """What the loss compares the logits with: ``batch_labels``, or with ``spec.label_smoothing`` > 0 on a
    classification task, float32 ``[rows, num_labels]`` targets ``(1 - s) * one_hot + s / num_labels``.

    Engines take a 2-D target as soft cross-entropy (``-sum(targets * log_softmax(logits))``), which is
    PyTorch's ``cross_entropy(label_smoothing=s)`` and transformers' ``LabelSmoother``: one rule, three backends.
    """
    labels = batch_labels(batch, spec.regression)
    if spec.regression or spec.label_smoothing <= 0:
        return labels
    smoothing = np.float32(spec.label_smoothing)
    one_hot = np.eye(spec.num_labels, dtype=np.float32)[labels]
    return (one_hot * (1 - smoothing) + smoothing / spec.num_labels).astype(np.float32)


def write_pretrained(path: Path, config: Any, architecture: str, tensors: dict[str, np.ndarray]) -> None:
    """The Hugging Face folder every framework loads: config.json and PyTorch-named float32 safetensors.

    ``architecture`` is the PyTorch class name (``BertForSequenceClassification``), whatever
    framework trained the model, so ``AutoModel...`` of any framework picks the right class.
    """
    path.mkdir(parents=True, exist_ok=True)
    config.architectures = [architecture]
    config.save_pretrained(str(path))
    arrays = {name: np.ascontiguousarray(np.asarray(a, dtype=np.float32)) for name, a in tensors.items()}
    save_file(arrays, str(path / WEIGHTS), metadata={"format": "pt"})


class EngineBase(ABC):
    """One model held by a backend (the ``Engine`` protocol), with every framework-neutral step done here."""

    def __init__(self, spec: ModelSpec, device: str) -> None:
        self.spec = spec
        self.device = device

    # -- the framework's part -----------------------------------------------------------------
    @abstractmethod
    def train_step(self, batch: Batch, learning_rate: float) -> float:
        """One optimizer update on ``batch`` at ``learning_rate``; the batch's weighted mean loss."""

    @abstractmethod
    def predict(self, batch: Batch) -> np.ndarray:
        """float32 logits ``[rows, num_labels]`` for every row of ``batch`` (filler rows included)."""

    @abstractmethod
    def model_config(self) -> Any:
        """The model's transformers ``PretrainedConfig`` (written as config.json)."""

    @abstractmethod
    def architecture(self) -> str:
        """The PyTorch class name of the model, e.g. ``BertForSequenceClassification``."""

    @abstractmethod
    def weights(self) -> dict[str, np.ndarray]:
        """Every weight in PyTorch naming and layout (``[out, in]`` matrices), as numpy arrays."""

    @abstractmethod
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Optimizer moments, step counts and RNG states, by stable names: what a resume needs."""

    @abstractmethod
    def restore_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Take back what ``state_arrays`` gave (names and shapes already checked)."""

    def train_micro_batches(self, batches: list[Batch], learning_rate: float) -> float:
        """One optimizer update on several micro-batches (``--gradient-accumulation-steps``): the update
        the batch of all their rows would give; returns that batch's weighted mean loss.

        Plugin API 2.1. This default trains them as one batch (right, but no memory saved); an engine
        overrides it to sum the micro-batches' gradients one at a time.
        """
        return self.train_step(concat_rows(batches), learning_rate)

    def state_info(self) -> dict[str, Any]:
        """Small JSON-able extras of the state (a loss scaler's settings...); none by default."""
        return {}

    def restore_info(self, info: dict[str, Any]) -> None:  # noqa: B027 (optional: most engines have no extras)
        """Take back what ``state_info`` gave."""

    def compile_count(self) -> int:
        """How many times a step was traced/compiled so far (0 when nothing compiles)."""
        return 0

    # -- written once, for every backend ------------------------------------------------------
    def model_inputs(self, batch: Batch) -> dict[str, np.ndarray]:
        """The batch's arrays the model takes (``spec.inputs``: its family's), by transformers' names."""
        return {name: getattr(batch, name) for name in self.spec.inputs}

    def save_model(self, path: Path) -> None:
        write_pretrained(path, self.model_config(), self.architecture(), self.weights())

    def save_state(self, path: Path) -> None:
        # np.ascontiguousarray would turn 0-d step counts into 1-d arrays.
        arrays = {name: np.asarray(a, order="C") for name, a in self.state_arrays().items()}
        save_file(arrays, str(path / STATE_ARRAYS))
        (path / STATE_INFO).write_text(json.dumps(self.state_info(), indent=1), encoding="utf-8")

    def load_state(self, path: Path) -> None:
        try:
            stored = load_file(str(path / STATE_ARRAYS))
            info = json.loads((path / STATE_INFO).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"Cannot read the optimizer state in {path}: {str(exc).splitlines()[0]}",
                "Start a new run (without --resume).",
            ) from None
        check_state_fits(path, stored, self.state_arrays())
        self.restore_state(stored)
        self.restore_info(info)


def check_state_fits(path: Path, stored: dict[str, np.ndarray], live: dict[str, np.ndarray]) -> None:
    """The checkpoint's arrays are exactly the live model's: same names, same shapes."""
    missing = sorted(set(live) - set(stored))
    unknown = sorted(set(stored) - set(live))
    wrong = sorted(n for n in set(live) & set(stored) if np.shape(live[n]) != np.shape(stored[n]))
    if missing or unknown or wrong:
        example = (missing or unknown or wrong)[0]
        raise ModelError(
            f"The checkpoint in {path} does not fit this model ({len(missing)} state arrays missing, "
            f"{len(unknown)} unknown, {len(wrong)} of another shape; e.g. {example}): "
            "it was written by another model or backend.",
            "Start a new run (without --resume), or resume with the backend and model that wrote it.",
        )
