"""Using a saved model with any backend: dev-set metrics (``glue eval``), test-set files (``glue predict``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glue_cli import sources
from glue_cli.backends import ModelSpec, choose_precision
from glue_cli.custom import Files
from glue_cli.errors import RunDirError
from glue_cli.guards import reading
from glue_cli.models import label_permutation, read_label2id, resolve_model
from glue_cli.runs import RunDir
from glue_cli.submission import zip_folder
from glue_cli.trainer import Prepared, evaluate_all, open_backend, predict_test, tokenize


@dataclass(frozen=True)
class Request:
    """What ``glue eval`` / ``glue predict`` were asked."""

    task: str | None
    model: str
    backend: str
    data_dir: str | None = None
    files: Files = Files()
    max_length: int = 128
    batch_size: int = 64
    max_samples: int | None = None
    amp: bool = False
    precision: str | None = None
    verbose: bool = False
    devices: int | None = None


@dataclass
class Loaded:
    p: Prepared
    engine: Any
    permutation: list[int] | None


def load(request: Request, role: str) -> Loaded:
    """Resolve the task (from the model's record when not named), read ``role``'s splits, build the engine."""
    backend = open_backend(request.backend)
    model_path = resolve_model(request.model)
    record = sources.read_record(model_path)
    files = sources.files_with_record(request.files, record)
    task, splits = sources.load(request.task, request.data_dir, files, (role,), recorded=record)
    if role == "eval":
        splits = {s: split.head(request.max_samples) for s, split in splits.items()}
    p = tokenize(task, splits, backend, model_path, request.max_length)
    chosen = choose_precision(p.backend, request.precision, request.amp, p.backend.devices()[0])
    labels = p.task.labels or ("score",)
    spec = ModelSpec(
        path=p.model, num_labels=p.task.num_labels, regression=p.task.is_regression,
        id2label=dict(enumerate(labels)), precision=chosen, devices=request.devices, verbose=request.verbose,
    )
    with reading(p.model, "model", "Pass --model with a folder holding config.json and weights."):
        engine = p.backend.create(spec, 0)
    permutation = None
    if p.task.labels is not None:
        permutation = label_permutation(p.task.labels, read_label2id(p.model))
    return Loaded(p, engine, permutation)


def evaluate(request: Request) -> dict[str, dict[str, float]]:
    loaded = load(request, "eval")
    return evaluate_all(
        loaded.engine, loaded.p, request.batch_size, request.max_length, None, 0, loaded.permutation
    )


def default_predictions_dir(model: str) -> Path:
    """``<run>/predictions`` for a run directory (or the model folder inside one)."""
    path = Path(model).expanduser()
    for candidate in (path, path.parent):
        if RunDir(candidate).metrics.is_file():
            return RunDir(candidate).predictions
    raise RunDirError(
        f"{model} is not a run directory from glue train, so there is no default place for predictions.",
        "Pass --output-dir.",
    )


def predict(
    request: Request, output_dir: Path | None, overwrite: bool, make_zip: bool
) -> dict[str, str]:
    """Write the leaderboard files; returns {split: path} (plus ``zip`` when bundled)."""
    out = output_dir or default_predictions_dir(request.model)
    loaded = load(request, "test")
    written = predict_test(
        loaded.engine, loaded.p, request.batch_size, request.max_length, out, overwrite,
        loaded.permutation,
    )
    if make_zip:
        written["zip"] = str(zip_folder(out))
    return written
