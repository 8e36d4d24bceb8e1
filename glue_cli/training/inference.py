"""Using a saved model with any backend: dev-set metrics (``glue eval``), test-set files (``glue predict``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glue_cli.data import sources
from glue_cli.data.custom import Files
from glue_cli.errors import ConfigError, RunDirError
from glue_cli.progress import counting
from glue_cli.runs.guards import reading
from glue_cli.runs.rundir import RunDir
from glue_cli.training.backends import Engine, choose_precision
from glue_cli.training.evaluation import evaluate_all, predict_test
from glue_cli.training.models import fetch_model, label_permutation, read_label2id
from glue_cli.training.pipeline import Prepared, limit, model_spec, open_backend, tokenize
from glue_cli.training.submission import zip_folder
from glue_cli.training.world import launched_size


@dataclass(frozen=True, kw_only=True)
class Request:
    """What ``glue eval`` / ``glue predict`` were asked."""

    task: str | None
    model: str
    backend: str
    tokenizer: str | None = None
    revision: str | None = None
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
    engine: Engine
    permutation: list[int] | None


def load(request: Request, role: str) -> Loaded:
    """Resolve the task (from the model's record when not named), read ``role``'s splits, build the engine."""
    if launched_size() > 1:  # every worker would score the whole split and write the same files
        raise ConfigError(
            f"glue eval and glue predict run as one process, but WORLD_SIZE is {launched_size()} "
            "(started by torchrun?).",
            "Run them without torchrun or --nproc: only glue train spreads over workers.",
        )
    backend = open_backend(request.backend)
    model_path = fetch_model(request.model, request.revision, backend.framework)
    record = sources.read_record(model_path)
    files = sources.files_with_record(request.files, record)
    task, splits = sources.load(request.task, request.data_dir, files, (role,), recorded=record)
    if role == "eval":
        splits = limit(splits, dict.fromkeys(splits, request.max_samples))
    p = tokenize(task, splits, backend, model_path, request.max_length, tokenizer=request.tokenizer,
                 revision=request.revision)
    chosen = choose_precision(p.backend, request.precision, request.amp, p.backend.devices()[0])
    with reading(p.model, "model", "Pass --model with a folder holding config.json and weights."):
        engine = p.backend.create(model_spec(p, chosen, devices=request.devices, verbose=request.verbose))
    permutation = None
    if p.task.labels is not None:
        permutation = label_permutation(p.task.labels, read_label2id(p.model))
    return Loaded(p, engine, permutation)


def evaluate(request: Request, progress: bool = False) -> dict[str, dict[str, float]]:
    return evaluate_named(request, progress)[1]


def evaluate_named(request: Request, progress: bool = False) -> tuple[str, dict[str, dict[str, float]]]:
    """The task's name and its dev-set metrics; ``progress`` shows a bar over the examples on stderr."""
    loaded = load(request, "eval")
    p = loaded.p
    total = sum(len(p.encoded[s]) for s in p.task.eval_splits)
    with counting(loaded.engine, f"evaluating {p.task.name}", total, progress) as engine:
        results = evaluate_all(engine, p, request.batch_size, request.max_length, None, 0, loaded.permutation)
    return p.task.name, results


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
    request: Request, output_dir: Path | None, overwrite: bool, make_zip: bool, progress: bool = False
) -> dict[str, str]:
    """Write the leaderboard files; returns {split: path} (plus ``zip`` when bundled).

    ``progress`` shows a bar over the test examples on stderr.
    """
    out = output_dir or default_predictions_dir(request.model)
    loaded = load(request, "test")
    p = loaded.p
    total = sum(len(p.encoded[s]) for s in p.task.unlabelled_splits if s in p.encoded)
    with counting(loaded.engine, f"predicting {p.task.name}", total, progress) as engine:
        written = predict_test(
            engine, p, request.batch_size, request.max_length, out, overwrite, loaded.permutation,
        )
    if make_zip:
        written["zip"] = str(zip_folder(out))
    return written
