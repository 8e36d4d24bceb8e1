"""From names to a ready engine, the same for train, eval and predict: backend, task, rows, tokens, model spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glue_cli.data.batching import Padding
from glue_cli.data.custom import Files
from glue_cli.data.features import Encoded, encode
from glue_cli.data.glue_folder import Split
from glue_cli.data.sources import read_named_splits
from glue_cli.data.tasks import Task
from glue_cli.plugins.manager import get_backends, get_tasks
from glue_cli.training.backends import (
    Backend,
    ModelSpec,
    batch_padding,
    compiles,
    only_framework,
    require_available,
)
from glue_cli.training.models import family_inputs, fetch_model, load_tokenizer
from glue_cli.training.optimization import OptimizerSettings


@dataclass(kw_only=True)
class Prepared:
    """A task, a backend and tokenized data, ready for an engine."""

    task: Task
    backend: Backend
    model: str
    tokenizer: Any
    splits: dict[str, Split]
    encoded: dict[str, Encoded]
    # The inputs the model's forward takes (its family's), handed to the engine in ModelSpec.inputs.
    inputs: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")
    # How the engine's batches are padded (the backend's choice for --xla or not).
    padding: Padding = Padding()

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id or 0


def open_backend(name: str) -> Backend:
    """The named backend, checked usable; other frameworks switched off before transformers loads."""
    backend = get_backends().get(name)
    require_available(backend)
    only_framework(backend.framework)
    return backend


def limit(splits: dict[str, Split], limits: dict[str, int | None]) -> dict[str, Split]:
    """The first ``limits[split]`` rows of each split (all of a split with no limit)."""
    return {name: split.head(limits.get(name)) for name, split in splits.items()}


def tokenize(
    task: Task, splits: dict[str, Split], backend: Backend, model: str, max_length: int, *,
    tokenizer: str | None = None, revision: str | None = None, xla: bool = False,
) -> Prepared:
    """Fetch the model (a hub id at ``revision``), load its tokenizer (or ``tokenizer``'s) and encode every split.

    The on-disk cache is keyed by the tokenizer's definition, so another --tokenizer never hits a stale entry.
    ``xla``: the engine will compile its steps, which decides how batches are padded (``Prepared.padding``).
    """
    model_path = fetch_model(model, revision, backend.framework)
    tokenizer_path = model_path if tokenizer is None else fetch_model(
        tokenizer, revision, option="--tokenizer", weights=False)
    loaded = load_tokenizer(tokenizer_path)
    encoded = {s: encode(split, loaded, max_length) for s, split in splits.items()}
    return Prepared(task=task, backend=backend, model=model_path, tokenizer=loaded, splits=splits,
                    encoded=encoded, inputs=family_inputs(loaded, model_path),
                    padding=batch_padding(backend, xla))


def prepare_data(
    task_name: str, backend_name: str, model: str, data_dir: str | None, splits: list[str] | None,
    max_length: int, limits: dict[str, int | None],
) -> Prepared:
    """Named splits of a registered task (its eval splits by default), read, limited and tokenized."""
    backend = open_backend(backend_name)
    task = get_tasks().get(task_name)
    read = read_named_splits(task, data_dir, list(splits or task.eval_splits))
    return tokenize(task, limit(read, limits), backend, model, max_length)


def split_list(value: str | None) -> tuple[str, ...] | None:
    """``"a,b"`` -> ``("a", "b")``; the CLI keeps comma-separated lists as one string."""
    if value is None:
        return None
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    return items or None


def files_of(
    train: str | None, validation: str | None, test: str | None, text_fields: str | None,
    label_field: str | None, labels: str | None = None,
) -> Files:
    """The user's own data files (a custom task), comma-separated lists split."""
    return Files(train, validation, test, split_list(text_fields), label_field, split_list(labels))


def model_spec(
    p: Prepared, precision: str, *, path: str | None = None, xla: bool = False, seed: int = 42,
    optimizer: OptimizerSettings | None = None, devices: int | None = None, verbose: bool = False,
    label_smoothing: float = 0.0,
) -> ModelSpec:
    """What the backend builds: the task's head on the model at ``path`` (the prepared model by default),
    compiling when ``xla`` asks and the backend compiles on its device (``compiles``)."""
    labels = p.task.labels or ("score",)
    return ModelSpec(
        path=path or p.model,
        num_labels=p.task.num_labels,
        regression=p.task.is_regression,
        id2label=dict(enumerate(labels)),
        precision=precision,
        xla=compiles(p.backend, xla),
        seed=seed,
        optimizer=optimizer or OptimizerSettings(),
        devices=devices,
        verbose=verbose,
        label_smoothing=label_smoothing,
        inputs=p.inputs,
    )
