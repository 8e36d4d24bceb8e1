"""The training loop every backend shares: schedule, epochs, evaluation, checkpoints, the final save.

A backend only supplies the framework part (an ``Engine``: one step, logits, its weights and
state), the way Keras keeps the fit loop once in ``trainers/`` and the per-framework steps in
backends. Getting from names to tokenized data and a model spec is ``pipeline``'s job; owning the
run directory (lock, --overwrite/--resume rules) is ``runs``'s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from glue_cli.config import RunConfig
from glue_cli.data import sources
from glue_cli.data.batching import iterate, num_batches, train_order
from glue_cli.data.custom import Files
from glue_cli.errors import DataError
from glue_cli.plugins.manager import get_backends, get_plugins, get_tasks
from glue_cli.plugins.reporting import enabled_reporters
from glue_cli.runs.atomic import atomic_dir
from glue_cli.runs.guards import reading, writing
from glue_cli.runs.rundir import RunDir, default_run_path, git_commit
from glue_cli.training import checkpoint
from glue_cli.training.backends import Engine, choose_precision, warn
from glue_cli.training.checkpoint import Position
from glue_cli.training.evaluation import evaluate_all, predict_test
from glue_cli.training.events import (
    CheckpointSaved,
    Compiled,
    EpochEnded,
    EpochStarted,
    EventSink,
    RunEnded,
    RunStarted,
    StepEnded,
)
from glue_cli.training.optimization import OptimizerSettings, Schedule
from glue_cli.training.pipeline import Prepared, files_of, limit, model_spec, open_backend, split_list, tokenize
from glue_cli.training.stopping import StopOnSigterm, Stopped
from glue_cli.training.world import WorkerSink, World, claim_shared, open_world, shard
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
class Progress:
    """What the loop has done so far in this run; ``epoch_seconds`` and ``examples`` include the
    epochs of the processes before a --resume, so metrics.json describes the whole run."""

    step: int
    compiles: int
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    examples: int = 0
    this_process_seconds: list[float] = field(default_factory=list)


def run_files(config: RunConfig) -> Files:
    return files_of(config.train_file, config.validation_file, config.test_file, config.text_fields,
                    config.label_field, config.labels)


def run_task_name(config: RunConfig) -> str:
    """The task's name before any data is read: the registered one, or a custom name safe as a folder name."""
    if run_files(config).given:
        return safe_name(config.task, "Task name")
    return get_tasks().get(config.task).name


def run_path(config: RunConfig, task_name: str) -> Path:
    if config.output_dir:
        return Path(config.output_dir)
    if config.resume:
        from glue_cli.errors import ConfigError

        raise ConfigError("--resume needs --output-dir: the run directory to continue.", "")
    return default_run_path(task_name, get_backends().get(config.backend).name)


def prepare_training(config: RunConfig) -> Prepared:
    """The backend, the task's splits (train, eval, and test with --do-predict) limited and tokenized."""
    backend = open_backend(config.backend)
    roles = ("train", "eval", "test") if config.do_predict else ("train", "eval")
    task, splits = sources.load(config.task, config.data_dir, run_files(config), roles)
    limits = {"train": config.max_train_samples, **{s: config.max_eval_samples for s in task.eval_splits}}
    return tokenize(task, limit(splits, limits), backend, config.model, config.max_seq_length,
                    tokenizer=config.tokenizer, revision=config.revision)


def build_engine(
    p: Prepared, config: RunConfig, precision: str, run: RunDir, resume_from: Position | None,
    total_steps: int, verbose: bool,
) -> tuple[Engine, Position]:
    """A fresh engine on the prepared model, or the checkpoint's model and state with --resume."""
    start = resume_from or Position(0, 0, p.backend.name)
    if start.step > total_steps:
        raise DataError(f"{run.checkpoint}: the checkpoint is at step {start.step}, past this run's "
                        f"{total_steps} steps.", "Resume with the run's settings.")
    weights = checkpoint.model_path(run.checkpoint) if resume_from is not None else p.model
    spec = model_spec(
        p, precision, path=weights, xla=config.xla, seed=config.seed, devices=config.devices, verbose=verbose,
        optimizer=OptimizerSettings(weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm),
    )
    with reading(weights, "model", "Pass --model with a folder holding config.json and weights."):
        engine = p.backend.create(spec)
    if resume_from is not None:
        with reading(run.checkpoint, "checkpoint", "Pass --overwrite instead of --resume to start again."):
            checkpoint.restore(engine, run.checkpoint, start, p.backend.name)
    return engine, start


def save_checkpoint(engine: Engine, run: RunDir, position: Position) -> None:
    """The resumable state, swapped in whole; a failed write (full disk) keeps the previous one."""
    hint = "The previous checkpoint is kept: free space, then rerun with --resume."
    with writing(run.checkpoint, "checkpoint", hint):
        checkpoint.save(engine, run.checkpoint, position)


def train_epoch(
    engine: Engine, p: Prepared, config: RunConfig, run: RunDir, epoch: int, schedule: Schedule,
    progress: Progress, steps_per_epoch: int, emit: EventSink, stop: StopOnSigterm, world: World | None = None,
) -> None:
    """One pass over the training rows (the ones not yet seen when resuming mid-epoch).

    With several workers each trains on its shard of every global batch (``world.shard``)."""
    world = world or World()
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
        loss = engine.train_step(shard(batch, world), rate)
        progress.step += 1
        if engine.compile_count() != progress.compiles:
            progress.compiles = engine.compile_count()
            emit(Compiled(progress.step, list(batch.shape), progress.compiles))
        loss_sum += loss * batch.num_examples
        seen += batch.num_examples
        emit(StepEnded(progress.step, epoch + 1, loss, rate, batch.num_examples, time.perf_counter() - t_step))
        if stop.requested:  # SIGTERM: keep this step's state, then exit
            if world.is_main:
                save_checkpoint(engine, run, Position(progress.step, epoch, p.backend.name, progress.epoch_seconds,
                                                      progress.examples + seen))
            emit(CheckpointSaved(str(run.checkpoint), progress.step, epoch))
            raise Stopped(f"Stopped by SIGTERM at step {progress.step}; checkpoint saved in {run.checkpoint}.",
                          "Rerun with --resume to continue.")
    seconds = time.perf_counter() - t_epoch
    progress.epoch_seconds.append(seconds)
    progress.this_process_seconds.append(seconds)
    progress.examples += seen
    emit(EpochEnded(epoch + 1, seconds, loss_sum / max(1, seen), seen, seen / seconds))


def save_final_model(engine: Engine, p: Prepared, run: RunDir, config: RunConfig) -> None:
    """model/: the weights, the tokenizer and the task record that glue eval/predict rebuild the task from."""
    with writing(run.model, "model", "Free space, then rerun with --resume."), atomic_dir(run.model) as tmp:
        engine.save_model(tmp)
        p.tokenizer.save_pretrained(str(tmp))
        sources.record_task(tmp, p.task, run_files(config))


def summarize(p: Prepared, precision: str, progress: Progress) -> dict[str, Any]:
    """What metrics.json holds: the whole run's totals, across --resume."""
    seconds = sum(progress.epoch_seconds)
    return {
        "task": p.task.name,
        "backend": p.backend.name,
        "precision": precision,
        "eval": progress.results,
        "train": {
            "seconds": round(seconds, 3),
            "epoch_seconds": [round(s, 3) for s in progress.epoch_seconds],
            "steps": progress.step,
            "examples_per_second": round(progress.examples / seconds, 2) if seconds else 0.0,
        },
    }


def train(config: RunConfig, verbose: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Claim the run directory (checks, lock, --overwrite/--resume rules) before any work, then train.

    ``--resume`` on a finished run changes nothing and returns its metrics.json.
    """
    task_name = run_task_name(config)
    world = open_world(get_backends().get(config.backend))
    path = world.broadcast(run_path(config, task_name))  # the main process's (a default one has a timestamp)
    with claim_shared(world, path, {**config.to_dict(), "task": task_name}) as (finished, run, state):
        if finished is not None:
            if world.is_main:
                warn(f"The run in {path} has already finished; its metrics.json is unchanged.")
            return finished
        with StopOnSigterm() as stop:
            return fit(replace(config, output_dir=str(path)), run, state, stop, verbose, quiet, world)


def main_process(config: RunConfig) -> bool:
    """Whether this process prints the run's results: the only one, or the main data-parallel worker."""
    return open_world(get_backends().get(config.backend)).is_main


def fit(config: RunConfig, run: RunDir, resume_from: Position | None, stop: StopOnSigterm,
        verbose: bool = False, quiet: bool = False, world: World | None = None) -> dict[str, Any]:
    """Fine-tune, evaluate after each epoch, checkpoint, save; returns what metrics.json holds.

    ``resume_from``: the checkpoint position ``claim`` read and checked for --resume (None: a new run).
    ``world``: the data-parallel workers; every one runs this, only the main one writes and reports.
    """
    world = world or World()
    started = time.perf_counter()
    # Before any work: an unknown or uninstalled --report-to reporter is one line, not a late failure.
    reporters = enabled_reporters(split_list(config.report_to) or (), get_plugins().pm)
    p = prepare_training(config)
    precision = choose_precision(p.backend, config.precision, config.amp, p.backend.devices()[0])
    emit = EventSink(get_plugins().pm, reporters) if world.is_main else WorkerSink(get_plugins().pm)

    steps_per_epoch = num_batches(len(p.encoded["train"]), config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    schedule = Schedule.from_ratio(config.learning_rate, total_steps, config.warmup_ratio)
    engine, start = build_engine(p, config, precision, run, resume_from, total_steps, verbose)
    if world.is_main:
        run.write_config({
            **config.to_dict(),
            "task": p.task.name, "backend": p.backend.name, "model_path": p.model,
            "precision": precision, "device": engine.device, "world_size": world.size,
            "versions": versions(), "git_commit": git_commit(),
        })
    device = engine.device if world.size == 1 else f"{engine.device}, {world.describe()}"
    emit(RunStarted(
        str(run.path), p.task.name, p.backend.name, device, precision, config.model,
        config.epochs, steps_per_epoch, total_steps, len(p.encoded["train"]),
        {s: len(p.encoded[s]) for s in p.task.eval_splits}, start.step, quiet,
        {s: e.cached for s, e in p.encoded.items()},
    ))

    progress = Progress(step=start.step, compiles=engine.compile_count(),
                        epoch_seconds=list(start.epoch_seconds), examples=start.examples)
    for epoch in range(start.step // steps_per_epoch, config.epochs):
        train_epoch(engine, p, config, run, epoch, schedule, progress, steps_per_epoch, emit, stop, world)
        last = epoch + 1 == config.epochs
        progress.results = evaluate_all(
            engine, p, config.eval_batch_size, config.max_seq_length, emit, epoch + 1,
            predictions_dir=run.path / EVAL_PREDICTIONS if last and world.is_main else None, world=world,
        )
        if world.is_main:
            save_checkpoint(engine, run, Position(progress.step, epoch + 1, p.backend.name,
                                                  progress.epoch_seconds, progress.examples))
        emit(CheckpointSaved(str(run.checkpoint), progress.step, epoch + 1))
    if start.step == total_steps:  # resumed after the last checkpoint: the final save did not finish
        progress.results = evaluate_all(
            engine, p, config.eval_batch_size, config.max_seq_length, None, config.epochs,
            predictions_dir=run.path / EVAL_PREDICTIONS if world.is_main else None, world=world,
        )

    if world.is_main:
        save_final_model(engine, p, run, config)
    summary = summarize(p, precision, progress)
    if config.do_predict:
        summary["predictions"] = predict_test(
            engine, p, config.eval_batch_size, config.max_seq_length, run.predictions, overwrite=True,
            world=world,
        )
    if world.is_main:
        with writing(run.metrics, "metrics", "Free space, then rerun with --resume."):
            run.write_metrics(summary)
    world.broadcast(None)  # the workers end together, once the main one has written everything
    emit(RunEnded(progress.results, sum(progress.this_process_seconds), time.perf_counter() - started,
                  progress.compiles, progress.this_process_seconds))
    return summary
