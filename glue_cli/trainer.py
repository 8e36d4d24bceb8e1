"""The training loop every backend shares: schedule, epochs, evaluation, checkpoints, the final save.

A backend only supplies the framework part (an ``Engine``: one step, logits, its weights and
state), the way Keras keeps the fit loop once in ``trainers/`` and the per-framework steps in
backends. Getting from names to tokenized data and a model spec is ``pipeline``'s job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from glue_cli import checkpoint, sources
from glue_cli.atomic import atomic_dir
from glue_cli.backends import Engine, choose_precision
from glue_cli.batching import iterate, num_batches, train_order
from glue_cli.checkpoint import Position
from glue_cli.config import RunConfig
from glue_cli.evaluation import evaluate_all, predict_test
from glue_cli.events import (
    CheckpointSaved,
    Compiled,
    EpochEnded,
    EpochStarted,
    EventSink,
    RunEnded,
    RunStarted,
    StepEnded,
)
from glue_cli.optimization import OptimizerSettings, Schedule
from glue_cli.pipeline import Prepared, files_of, limit, model_spec, open_backend, split_list, tokenize
from glue_cli.plugins import get_plugins
from glue_cli.reporting import enabled_reporters
from glue_cli.runs import RunDir, default_run_path, git_commit, prepare

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
class Progress:
    """What the loop has done so far in this process."""

    step: int
    compiles: int
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    examples: int = 0


def run_files(config: RunConfig) -> Any:
    return files_of(config.train_file, config.validation_file, config.test_file, config.text_fields,
                    config.label_field, config.labels)


def prepare_training(config: RunConfig) -> Prepared:
    """The backend, the task's splits (train, eval, and test with --do-predict) limited and tokenized."""
    backend = open_backend(config.backend)
    roles = ("train", "eval", "test") if config.do_predict else ("train", "eval")
    task, splits = sources.load(config.task, config.data_dir, run_files(config), roles)
    limits = {"train": config.max_train_samples, **{s: config.max_eval_samples for s in task.eval_splits}}
    return tokenize(task, limit(splits, limits), backend, config.model, config.max_seq_length)


def build_engine(p: Prepared, config: RunConfig, precision: str, run: RunDir, verbose: bool) -> tuple[Engine, Position]:
    """A fresh engine on the prepared model, or the checkpoint's model and state with --resume."""
    start = checkpoint.read(run.checkpoint) if config.resume else Position(0, 0, p.backend.name)
    spec = model_spec(
        p, precision, path=checkpoint.model_path(run.checkpoint) if config.resume else None,
        xla=config.xla, seed=config.seed, devices=config.devices, verbose=verbose,
        optimizer=OptimizerSettings(weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm),
    )
    engine = p.backend.create(spec)
    if config.resume:
        checkpoint.restore(engine, run.checkpoint, start, p.backend.name)
    return engine, start


def train_epoch(
    engine: Engine, p: Prepared, config: RunConfig, epoch: int, schedule: Schedule, progress: Progress,
    steps_per_epoch: int, emit: EventSink,
) -> None:
    """One pass over the training rows (the ones not yet seen when resuming mid-epoch)."""
    train_data = p.encoded["train"]
    emit(EpochStarted(epoch + 1, steps_per_epoch, progress.step))
    t_epoch, loss_sum, seen = time.perf_counter(), 0.0, 0
    for batch in iterate(
        train_data, config.batch_size, p.backend.pad_multiple, config.max_seq_length,
        order=train_order(train_data.lengths, config.batch_size, config.seed, epoch, config.group_by_length),
        fixed_rows=p.backend.fixed_batch_rows, pad_token_id=p.pad_id,
        skip=progress.step - epoch * steps_per_epoch,
    ):
        t_step = time.perf_counter()
        rate = schedule.rate(progress.step)
        loss = engine.train_step(batch, rate)
        progress.step += 1
        if engine.compile_count() != progress.compiles:
            progress.compiles = engine.compile_count()
            emit(Compiled(progress.step, list(batch.shape), progress.compiles))
        loss_sum += loss * batch.num_examples
        seen += batch.num_examples
        emit(StepEnded(progress.step, epoch + 1, loss, rate, batch.num_examples, time.perf_counter() - t_step))
    seconds = time.perf_counter() - t_epoch
    progress.epoch_seconds.append(seconds)
    progress.examples += seen
    emit(EpochEnded(epoch + 1, seconds, loss_sum / max(1, seen), seen, seen / seconds))


def save_final_model(engine: Engine, p: Prepared, run: RunDir, config: RunConfig) -> None:
    """model/: the weights, the tokenizer and the task record that glue eval/predict rebuild the task from."""
    with atomic_dir(run.model) as tmp:
        engine.save_model(tmp)
        p.tokenizer.save_pretrained(str(tmp))
        sources.record_task(tmp, p.task, run_files(config))


def summarize(p: Prepared, precision: str, progress: Progress, start: Position) -> dict[str, Any]:
    """What metrics.json holds."""
    seconds = sum(progress.epoch_seconds)
    return {
        "task": p.task.name,
        "backend": p.backend.name,
        "precision": precision,
        "eval": progress.results,
        "train": {
            "seconds": round(seconds, 3),
            "epoch_seconds": [round(s, 3) for s in progress.epoch_seconds],
            "steps": progress.step - start.step,
            "examples_per_second": round(progress.examples / seconds, 2) if seconds else 0.0,
        },
    }


def train(config: RunConfig, verbose: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Fine-tune, evaluate after each epoch, checkpoint, save; returns what metrics.json holds."""
    started = time.perf_counter()
    # Before any work: an unknown or uninstalled --report-to reporter is one line, not a late failure.
    reporters = enabled_reporters(split_list(config.report_to) or (), get_plugins().pm)
    p = prepare_training(config)
    precision = choose_precision(p.backend, config.precision, config.amp, p.backend.devices()[0])
    run = prepare(Path(config.output_dir or default_run_path(p.task.name, p.backend.name)),
                  config.overwrite, config.resume)
    emit = EventSink(get_plugins().pm, reporters)

    steps_per_epoch = num_batches(len(p.encoded["train"]), config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    schedule = Schedule.from_ratio(config.learning_rate, total_steps, config.warmup_ratio)
    engine, start = build_engine(p, config, precision, run, verbose)
    run.write_config({
        **config.to_dict(),
        "task": p.task.name, "backend": p.backend.name, "model_path": p.model,
        "precision": precision, "device": engine.device,
        "versions": versions(), "git_commit": git_commit(),
    })
    emit(RunStarted(
        str(run.path), p.task.name, p.backend.name, engine.device, precision, config.model,
        config.epochs, steps_per_epoch, total_steps, len(p.encoded["train"]),
        {s: len(p.encoded[s]) for s in p.task.eval_splits}, start.step, quiet,
        {s: e.cached for s, e in p.encoded.items()},
    ))

    progress = Progress(step=start.step, compiles=engine.compile_count())
    for epoch in range(start.step // steps_per_epoch, config.epochs):
        train_epoch(engine, p, config, epoch, schedule, progress, steps_per_epoch, emit)
        last = epoch + 1 == config.epochs
        progress.results = evaluate_all(
            engine, p, config.eval_batch_size, config.max_seq_length, emit, epoch + 1,
            predictions_dir=run.path / EVAL_PREDICTIONS if last else None,
        )
        checkpoint.save(engine, run.checkpoint, Position(progress.step, epoch + 1, p.backend.name))
        emit(CheckpointSaved(str(run.checkpoint), progress.step, epoch + 1))

    save_final_model(engine, p, run, config)
    summary = summarize(p, precision, progress, start)
    if config.do_predict:
        summary["predictions"] = predict_test(
            engine, p, config.eval_batch_size, config.max_seq_length, run.predictions, overwrite=True
        )
    run.write_metrics(summary)
    train_seconds = sum(progress.epoch_seconds)
    emit(RunEnded(progress.results, train_seconds, time.perf_counter() - started, progress.compiles,
                  progress.epoch_seconds))
    return summary
