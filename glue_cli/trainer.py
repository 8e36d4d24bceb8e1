"""The training loop every backend shares: data, schedule, epochs, evaluation, checkpoints.

A backend only supplies the framework part (an ``Engine``: one step, logits, saving), the
way Keras keeps the fit loop once in ``trainers/`` and the per-framework steps in backends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from glue_cli import sources
from glue_cli.atomic import atomic_dir, write_json
from glue_cli.backends import (
    Backend,
    ModelSpec,
    choose_precision,
    only_framework,
    require_available,
)
from glue_cli.batching import epoch_order, iterate, num_batches
from glue_cli.config import RunConfig
from glue_cli.custom import Files
from glue_cli.data import Split
from glue_cli.errors import DataError
from glue_cli.evaluation import score, split_logits
from glue_cli.events import (
    CheckpointSaved,
    Compiled,
    EpochEnded,
    EpochStarted,
    EvalEnded,
    EventSink,
    RunEnded,
    RunStarted,
    StepEnded,
)
from glue_cli.features import Encoded, encode
from glue_cli.guards import reading, writing
from glue_cli.models import load_tokenizer, resolve_model
from glue_cli.optimization import OptimizerSettings, Schedule
from glue_cli.plugins import get_backends, get_plugins, get_tasks
from glue_cli.reporting import enabled_reporters
from glue_cli.runs import RunDir, claim, default_run_path, git_commit, read_state
from glue_cli.stopping import StopOnSigterm, Stopped
from glue_cli.submission import check_free, submission_paths, write_eval_predictions, write_submission
from glue_cli.tasks import Task
from glue_cli.validation import safe_name

# Final dev-set predictions beside their labels, one <split>.tsv each, to check metrics on.
EVAL_PREDICTIONS = "eval_predictions"

FRAMEWORK_PACKAGES = (
    "glue-cli", "transformers", "tokenizers", "numpy", "torch", "tensorflow", "tf-keras",
    "jax", "jaxlib", "flax", "optax",
)


def versions() -> dict[str, str]:
    found = {}
    for name in FRAMEWORK_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


@dataclass
class Prepared:
    """A task, a backend and tokenized data, ready for an engine."""

    task: Task
    backend: Backend
    model: str
    tokenizer: Any
    splits: dict[str, Split]
    encoded: dict[str, Encoded]

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id or 0


def open_backend(name: str) -> Backend:
    """The named backend, checked usable; other frameworks switched off before transformers loads."""
    backend = get_backends().get(name)
    require_available(backend)
    only_framework(backend.framework)
    return backend


def tokenize(
    task: Task, splits: dict[str, Split], backend: Backend, model: str, max_length: int
) -> Prepared:
    """Load the model's tokenizer and encode every split (through the on-disk cache)."""
    model_path = resolve_model(model)
    tokenizer = load_tokenizer(model_path)
    encoded = {s: encode(split, tokenizer, max_length) for s, split in splits.items()}
    return Prepared(task, backend, model_path, tokenizer, splits, encoded)


def prepare_data(
    task_name: str, backend_name: str, model: str, data_dir: str | None, splits: list[str] | None,
    max_length: int, limits: dict[str, int | None],
) -> Prepared:
    """Named splits of a registered task (its eval splits by default), read and tokenized."""
    backend = open_backend(backend_name)
    task = get_tasks().get(task_name)
    read = sources.read_named_splits(task, data_dir, list(splits or task.eval_splits))
    return tokenize(task, {s: split.head(limits.get(s)) for s, split in read.items()}, backend, model, max_length)


def files_of(config: RunConfig) -> Files:
    return Files(
        config.train_file, config.validation_file, config.test_file,
        split_list(config.text_fields), config.label_field, split_list(config.labels),
    )


def split_list(value: str | None) -> tuple[str, ...] | None:
    """``"a,b"`` -> ``("a", "b")``; the CLI keeps comma-separated lists as one string."""
    if value is None:
        return None
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    return items or None


def evaluate_all(
    engine: Any, p: Prepared, batch_size: int, max_length: int, emit: EventSink | None,
    epoch: int, permutation: list[int] | None = None, predictions_dir: Path | None = None,
) -> dict[str, dict[str, float]]:
    results = {}
    for name in p.task.eval_splits:
        start = time.perf_counter()
        logits = all_logits(engine, p, name, batch_size, max_length, permutation)
        labels = p.splits[name].labels
        assert labels is not None
        results[name] = score(p.task, logits, labels)
        if emit is not None:
            emit(EvalEnded(epoch, name, results[name], len(labels), time.perf_counter() - start))
        if predictions_dir is not None:
            path = predictions_dir / f"{safe_name(name, 'Split name')}.tsv"
            write_eval_predictions(p.task, p.splits[name].ids, logits, labels, path)
    return results


def all_logits(
    engine: Any, p: Prepared, split: str, batch_size: int, max_length: int,
    permutation: list[int] | None = None,
) -> np.ndarray:
    """Logits of a whole split, columns in the task's label order."""
    logits = split_logits(
        engine, p.backend, p.encoded[split], batch_size, max_length, p.pad_id, p.task.num_labels
    )
    return logits if permutation is None else logits[:, permutation]


def predict_test(
    engine: Any, p: Prepared, batch_size: int, max_length: int, out_dir: Path, overwrite: bool,
    permutation: list[int] | None = None,
) -> dict[str, str]:
    """Leaderboard files for every test split read; returns {split: file written}."""
    tests = [s for s in p.task.unlabelled_splits if s in p.splits]
    if not tests:
        raise DataError(f"No test split to predict for {p.task.name}.", "Pass the test file (--test-file).")
    paths = submission_paths(p.task, tests, out_dir)
    check_free(list(paths.values()), overwrite)
    for split, path in paths.items():
        logits = all_logits(engine, p, split, batch_size, max_length, permutation)
        write_submission(p.task, p.splits[split].ids, logits, path)
    return {split: str(path) for split, path in paths.items()}


def model_spec(
    p: Prepared, config: RunConfig, precision: str, path: str, verbose: bool = False
) -> ModelSpec:
    labels = p.task.labels or ("score",)
    return ModelSpec(
        path=path,
        num_labels=p.task.num_labels,
        regression=p.task.is_regression,
        id2label=dict(enumerate(labels)),
        precision=precision,
        xla=config.xla,
        seed=config.seed,
        optimizer=OptimizerSettings(
            weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm
        ),
        devices=config.devices,
        verbose=verbose,
    )


def run_task_name(config: RunConfig) -> str:
    """The task's name before any data is read: the registered one, or a custom name safe as a folder name."""
    if files_of(config).given:
        return safe_name(config.task, "Task name")
    return get_tasks().get(config.task).name


def run_path(config: RunConfig, task_name: str) -> Path:
    if config.output_dir:
        return Path(config.output_dir)
    if config.resume:
        from glue_cli.errors import ConfigError

        raise ConfigError("--resume needs --output-dir: the run directory to continue.", "")
    return default_run_path(task_name, get_backends().get(config.backend).name)


def train(config: RunConfig, verbose: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Claim the run directory (checks, lock, --overwrite/--resume rules) before any work, then train.

    ``--resume`` on a finished run changes nothing and returns its metrics.json.
    """
    task_name = run_task_name(config)
    path = run_path(config, task_name)
    with claim(path, {**config.to_dict(), "task": task_name}) as claimed:
        if claimed.finished is not None:
            from glue_cli.backends import warn

            warn(f"The run in {path} has already finished; its metrics.json is unchanged.")
            return claimed.finished
        with StopOnSigterm() as stop:
            return _train(replace(config, output_dir=str(path)), claimed.run, claimed.state, stop, verbose, quiet)


def save_checkpoint(engine: Any, run: RunDir, state: dict[str, Any]) -> None:
    """The resumable state, swapped in whole; a failed write (full disk) keeps the previous one."""
    hint = "The previous checkpoint is kept: free space, then rerun with --resume."
    with writing(run.checkpoint, "checkpoint", hint), atomic_dir(run.checkpoint) as tmp:
        engine.save_model(tmp / "model")
        engine.save_state(tmp)
        write_json(tmp / "state.json", state)


def _train(
    config: RunConfig, run: RunDir, state: dict[str, Any] | None, stop: StopOnSigterm,
    verbose: bool = False, quiet: bool = False,
) -> dict[str, Any]:
    """Fine-tune, evaluate after each epoch, checkpoint, save; returns what metrics.json holds."""
    started = time.perf_counter()
    # Before any work: an unknown or uninstalled --report-to reporter is one line, not a late failure.
    reporters = enabled_reporters(split_list(config.report_to) or (), get_plugins().pm)
    backend = open_backend(config.backend)
    files = files_of(config)
    roles = ("train", "eval", "test") if config.do_predict else ("train", "eval")
    task, splits = sources.load(config.task, config.data_dir, files, roles)
    limits = {"train": config.max_train_samples, **{s: config.max_eval_samples for s in task.eval_splits}}
    splits = {s: split.head(limits.get(s)) for s, split in splits.items()}
    p = tokenize(task, splits, backend, config.model, config.max_seq_length)
    precision = choose_precision(p.backend, config.precision, config.amp, p.backend.devices()[0])
    emit = EventSink(get_plugins().pm, reporters)

    train_data = p.encoded["train"]
    steps_per_epoch = num_batches(len(train_data), config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    schedule = Schedule.from_ratio(config.learning_rate, total_steps, config.warmup_ratio)
    start_step = 0
    weights = p.model
    state = state or {}
    if config.resume:
        state = read_state(run)
        start_step, weights = state["step"], str(run.checkpoint / "model")
        if start_step > total_steps:
            raise DataError(f"{run.checkpoint}: the checkpoint is at step {start_step}, past this run's "
                            f"{total_steps} steps.", "Resume with the run's settings.")
    # Totals of the epochs run before a --resume, so metrics.json describes the whole run.
    prior_seconds: list[float] = list(state.get("epoch_seconds", []))
    prior_examples = int(state.get("examples", 0))
    with reading(weights, "model", "Pass --model with a folder holding config.json and weights."):
        engine = p.backend.create(model_spec(p, config, precision, weights, verbose), total_steps)
    if config.resume:
        with reading(run.checkpoint, "checkpoint", "Pass --overwrite instead of --resume to start again."):
            engine.load_state(run.checkpoint)
    device = getattr(engine, "device", "cpu")
    run.write_config({
        **config.to_dict(),
        "task": p.task.name, "backend": p.backend.name, "model_path": p.model,
        "precision": precision, "device": str(device),
        "versions": versions(), "git_commit": git_commit(),
    })
    emit(RunStarted(
        str(run.path), p.task.name, p.backend.name, str(device), precision, config.model,
        config.epochs, steps_per_epoch, total_steps, len(train_data),
        {s: len(p.encoded[s]) for s in p.task.eval_splits}, start_step, quiet,
        {s: e.cached for s, e in p.encoded.items()},
    ))

    step, compiles = start_step, engine.compile_count()
    results: dict[str, dict[str, float]] = {}
    epoch_seconds: list[float] = []
    examples_total = 0
    pad_id = p.pad_id
    for epoch in range(start_step // steps_per_epoch, config.epochs):
        skip = step - epoch * steps_per_epoch
        emit(EpochStarted(epoch + 1, steps_per_epoch, step))
        t_epoch, loss_sum, seen = time.perf_counter(), 0.0, 0
        for batch in iterate(
            train_data, config.batch_size, p.backend.pad_multiple, config.max_seq_length,
            order=epoch_order(len(train_data), config.seed, epoch),
            fixed_rows=p.backend.fixed_batch_rows, pad_token_id=pad_id, skip=skip,
        ):
            t_step = time.perf_counter()
            rate = schedule.rate(step)
            loss = engine.train_step(batch, rate)
            step += 1
            if engine.compile_count() != compiles:
                compiles = engine.compile_count()
                emit(Compiled(step, list(batch.shape), compiles))
            loss_sum += loss * batch.num_examples
            seen += batch.num_examples
            emit(StepEnded(step, epoch + 1, loss, rate, batch.num_examples,
                           time.perf_counter() - t_step))
            if stop.requested:  # SIGTERM: keep this step's state, then exit
                save_checkpoint(engine, run, {"step": step, "epoch": epoch, "epoch_seconds": prior_seconds
                                              + epoch_seconds, "examples": prior_examples + examples_total + seen})
                emit(CheckpointSaved(str(run.checkpoint), step, epoch))
                raise Stopped(f"Stopped by SIGTERM at step {step}; checkpoint saved in {run.checkpoint}.",
                              "Rerun with --resume to continue.")
        seconds = time.perf_counter() - t_epoch
        epoch_seconds.append(seconds)
        examples_total += seen
        emit(EpochEnded(epoch + 1, seconds, loss_sum / max(1, seen), seen, seen / seconds))
        last = epoch + 1 == config.epochs
        results = evaluate_all(
            engine, p, config.eval_batch_size, config.max_seq_length, emit, epoch + 1,
            predictions_dir=run.path / EVAL_PREDICTIONS if last else None,
        )
        save_checkpoint(engine, run, {"step": step, "epoch": epoch + 1, "epoch_seconds": prior_seconds
                                      + epoch_seconds, "examples": prior_examples + examples_total})
        emit(CheckpointSaved(str(run.checkpoint), step, epoch + 1))

    if start_step == total_steps:  # resumed after the last checkpoint: the final save did not finish
        results = evaluate_all(engine, p, config.eval_batch_size, config.max_seq_length, None, config.epochs,
                               predictions_dir=run.path / EVAL_PREDICTIONS)
    with writing(run.model, "model", "Free space, then rerun with --resume."), atomic_dir(run.model) as tmp:
        engine.save_model(tmp)
        p.tokenizer.save_pretrained(str(tmp))
        sources.record_task(tmp, p.task, files)
    predictions: dict[str, str] = {}
    if config.do_predict:
        predictions = predict_test(
            engine, p, config.eval_batch_size, config.max_seq_length, run.predictions, overwrite=True
        )
    all_seconds = prior_seconds + epoch_seconds
    train_seconds = sum(all_seconds)
    summary: dict[str, Any] = {
        "task": p.task.name,
        "backend": p.backend.name,
        "precision": precision,
        "eval": results,
        "train": {
            "seconds": round(train_seconds, 3),
            "epoch_seconds": [round(s, 3) for s in all_seconds],
            "steps": step,
            "examples_per_second": round((prior_examples + examples_total) / train_seconds, 2)
            if train_seconds else 0.0,
        },
    }
    if predictions:
        summary["predictions"] = predictions
    with writing(run.metrics, "metrics", "Free space, then rerun with --resume."):
        run.write_metrics(summary)
    emit(RunEnded(results, sum(epoch_seconds), time.perf_counter() - started, compiles, epoch_seconds))
    return summary
