"""The training loop every backend shares: schedule, steps, evaluation, checkpoints, the best model.

A backend only supplies the framework part (an ``Engine``: one step, logits, its weights and
state), the way Keras keeps the fit loop once in ``trainers/`` and the per-framework steps in
backends. Getting from names to tokenized data and a model spec is ``pipeline``'s job; owning the
run directory (lock, --overwrite/--resume rules) is ``runs``'s.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from glue_cli.config import RunConfig
from glue_cli.data import sources
from glue_cli.data.batching import Batch, iterate, split_rows, train_order
from glue_cli.data.custom import Files
from glue_cli.errors import DataError, RunDirError
from glue_cli.plugins.manager import get_backends, get_plugins, get_tasks
from glue_cli.plugins.reporting import enabled_reporters
from glue_cli.runs.atomic import atomic_dir
from glue_cli.runs.guards import reading, writing
from glue_cli.runs.rundir import RunDir, default_run_path, git_commit
from glue_cli.training import checkpoint
from glue_cli.training.backends import Engine, choose_precision, warn, xla_note
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
from glue_cli.training.plan import Plan
from glue_cli.training.selection import Best, best_metric
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
    # The latest evaluation: {"step", "epoch", "metrics"}.
    last_eval: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False


@dataclass
class EpochTally:
    """The epoch in progress: its clock (counting the seconds before a --resume), loss and examples so
    far, and the updates since the last StepEnded (``--logging-steps``)."""

    started: float
    loss_sum: float = 0.0
    seen: int = 0
    window_loss: float = 0.0
    window_examples: int = 0
    window_seconds: float = 0.0
    closed: bool = False

    def add(self, loss: float, examples: int, seconds: float) -> None:
        self.loss_sum += loss * examples
        self.seen += examples
        self.window_loss += loss * examples
        self.window_examples += examples
        self.window_seconds += seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


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
                    tokenizer=config.tokenizer, revision=config.revision, xla=config.xla)


def create_engine(p: Prepared, config: RunConfig, precision: str, weights: str, verbose: bool) -> Engine:
    """An engine on the model at ``weights`` with the run's optimizer and loss settings."""
    spec = model_spec(
        p, precision, path=weights, xla=config.xla, seed=config.seed, devices=config.devices, verbose=verbose,
        optimizer=OptimizerSettings(
            weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm,
            beta1=config.adam_beta1, beta2=config.adam_beta2, epsilon=config.adam_epsilon,
        ),
        label_smoothing=config.label_smoothing,
    )
    with reading(weights, "model", "Pass --model with a folder holding config.json and weights."):
        return p.backend.create(spec)


def build_engine(
    p: Prepared, config: RunConfig, precision: str, run: RunDir, resume_from: Position | None,
    total_steps: int, verbose: bool,
) -> tuple[Engine, Position]:
    """A fresh engine on the prepared model, or the checkpoint's model and state with --resume."""
    start = resume_from or Position(0, 0, p.backend.name)
    if start.step > total_steps:
        raise DataError(f"{run.checkpoint}: the checkpoint is at step {start.step}, past this run's "
                        f"{total_steps} steps.", "Resume with more --epochs or --max-steps.")
    weights = checkpoint.model_path(run.checkpoint) if resume_from is not None else p.model
    engine = create_engine(p, config, precision, weights, verbose)
    if resume_from is not None:
        with reading(run.checkpoint, "checkpoint", "Pass --overwrite instead of --resume to start again."):
            checkpoint.restore(engine, run.checkpoint, start, p.backend.name)
    return engine, start


def update(engine: Engine, batch: Batch, micro_rows: int, learning_rate: float) -> float:
    """One optimizer update on ``batch``, in micro-batches of ``micro_rows`` rows when it holds more
    (``--gradient-accumulation-steps``). An engine without ``train_micro_batches`` (plugin API 2.0)
    trains the whole batch at once: the same update."""
    accumulate = getattr(engine, "train_micro_batches", None)
    if batch.shape[0] <= micro_rows or accumulate is None:
        return engine.train_step(batch, learning_rate)
    return float(accumulate(split_rows(batch, micro_rows), learning_rate))


def save_checkpoint(engine: Engine, run: RunDir, position: Position) -> None:
    """The resumable state, swapped in whole; a failed write (full disk) keeps the previous one."""
    hint = "The previous checkpoint is kept: free space, then rerun with --resume."
    with writing(run.checkpoint, "checkpoint", hint):
        checkpoint.save(engine, run.checkpoint, position)


def train_epoch(
    engine: Engine, p: Prepared, config: RunConfig, epoch: int, schedule: Schedule, progress: Progress,
    plan: Plan, emit: EventSink, tally: EpochTally, after_step: Callable[[int, EpochTally], bool],
    world: World | None = None,
) -> bool:
    """One pass over the training rows (those not yet seen when resuming mid-epoch), up to the run's
    last update. ``after_step`` checkpoints/evaluates when due; True from it stops the run early.
    With several workers each trains on its shard of every global batch (``world.shard``)."""
    world = world or World()
    train_data = p.encoded["train"]
    end = plan.epoch_end(epoch)
    emit(EpochStarted(epoch + 1, plan.steps_per_epoch, progress.step))
    for batch in iterate(
        train_data, plan.update_rows, p.padding.multiple, config.max_seq_length,
        order=train_order(train_data.lengths, plan.update_rows, config.seed, epoch, config.group_by_length),
        fixed_rows=p.padding.fixed_rows, pad_token_id=p.pad_id,
        skip=progress.step - epoch * plan.steps_per_epoch,
    ):
        if progress.step >= end:
            break
        t_step = time.perf_counter()
        rate = schedule.rate(progress.step)
        loss = update(engine, shard(batch, world), -(-config.batch_size // world.size), rate)
        progress.step += 1
        if engine.compile_count() != progress.compiles:
            progress.compiles = engine.compile_count()
            emit(Compiled(progress.step, list(batch.shape), progress.compiles))
        tally.add(loss, batch.num_examples, time.perf_counter() - t_step)
        if progress.step % plan.logging_steps == 0 or progress.step == end:
            emit(StepEnded(progress.step, epoch + 1, tally.window_loss / max(1, tally.window_examples), rate,
                           tally.window_examples, tally.window_seconds))
            tally.window_loss, tally.window_examples, tally.window_seconds = 0.0, 0, 0.0
        if progress.step == end:
            close_epoch(epoch, progress, tally, emit)
        if after_step(epoch, tally):
            return True
    if not tally.closed:  # resumed exactly at an epoch's end (or nothing left): nothing was trained
        close_epoch(epoch, progress, tally, emit)
    return False


def close_epoch(epoch: int, progress: Progress, tally: EpochTally, emit: EventSink) -> None:
    seconds = tally.elapsed()
    progress.epoch_seconds.append(seconds)
    progress.this_process_seconds.append(seconds)
    progress.examples += tally.seen
    tally.closed = True
    emit(EpochEnded(epoch + 1, seconds, tally.loss_sum / max(1, tally.seen), tally.seen,
                    tally.seen / seconds if seconds else 0.0))


def save_final_model(engine: Engine, p: Prepared, run: RunDir, config: RunConfig) -> None:
    """model/: the weights, the tokenizer and the task record that glue eval/predict rebuild the task from."""
    with writing(run.model, "model", "Free space, then rerun with --resume."), atomic_dir(run.model) as tmp:
        engine.save_model(tmp)
        p.tokenizer.save_pretrained(str(tmp))
        sources.record_task(tmp, p.task, run_files(config))


def evaluate(
    engine: Engine, p: Prepared, config: RunConfig, run: RunDir, best: Best, progress: Progress, epoch: int,
    emit: EventSink, world: World | None = None,
) -> None:
    """Evaluate now; an improvement on the best so far becomes model/ and eval_predictions/.

    Every worker scores the gathered logits alike (the same bookkeeping); the main one writes."""
    world = world or World()
    pending = run.path / f".{EVAL_PREDICTIONS}.tmp"  # a kill's leftover is tidied by rundir.recover
    if world.is_main:
        shutil.rmtree(pending, ignore_errors=True)
    results = evaluate_all(engine, p, config.eval_batch_size, config.max_seq_length, emit, epoch + 1,
                           predictions_dir=pending if world.is_main else None, with_loss=best.metric == "loss",
                           world=world)
    progress.results = results
    progress.last_eval = {"step": progress.step, "epoch": epoch + 1, "metrics": results}
    value = results[best.split][best.metric]
    if best.improves(value):
        best.value, best.step, best.epoch, best.metrics = value, progress.step, epoch + 1, results
        best.evaluations_without_improvement = 0
        if world.is_main:
            save_final_model(engine, p, run, config)
            shutil.rmtree(run.path / EVAL_PREDICTIONS, ignore_errors=True)
            pending.rename(run.path / EVAL_PREDICTIONS)
    else:
        best.evaluations_without_improvement += 1
        if world.is_main:
            shutil.rmtree(pending, ignore_errors=True)
    patience = config.early_stopping_patience
    progress.stopped_early = patience is not None and best.evaluations_without_improvement >= patience


def summarize(p: Prepared, precision: str, progress: Progress, best: Best) -> dict[str, Any]:
    """What metrics.json holds: ``eval`` is the best evaluation's metrics (the model in model/), ``best``
    where it came from, ``last_eval`` the run's latest evaluation; the whole run's totals, across --resume."""
    seconds = sum(progress.epoch_seconds)
    return {
        "task": p.task.name,
        "backend": p.backend.name,
        "precision": precision,
        "eval": best.metrics,
        "best": best.record(),
        "last_eval": progress.last_eval,
        "stopped_early": progress.stopped_early,
        "train": {
            "seconds": round(seconds, 3),
            "epoch_seconds": [round(s, 3) for s in progress.epoch_seconds],
            "steps": progress.step,
            "examples_per_second": round(progress.examples / seconds, 2) if seconds else 0.0,
        },
    }


def nothing_left(config: RunConfig, state: Position | None) -> bool:
    """Whether a finished run, resumed with these settings, has no update left to make."""
    if state is None or state.steps_per_epoch is None:
        return True  # no checkpoint to continue from, or one from before steps were recorded
    return state.step >= Plan.from_steps(config, state.steps_per_epoch).total_steps


def stopped_for_good(config: RunConfig, state: Position) -> bool:
    """An early-stopped run stays stopped unless --early-stopping-patience now allows more evaluations."""
    waited = (state.best or {}).get("evaluations_without_improvement", 0)
    patience = config.early_stopping_patience
    return state.stopped_early and patience is not None and waited >= patience


def train(config: RunConfig, verbose: bool = False, quiet: bool = False) -> dict[str, Any] | None:
    """Claim the run directory (checks, lock, --overwrite/--resume rules) before any work, then train.

    The run's summary; None in a data-parallel worker other than the main one (which reports the
    run). ``--resume`` of a finished run with no update left is one line (exit 2) and changes nothing.
    """
    task_name = run_task_name(config)
    world = open_world(open_backend(config.backend))
    finished_here = False
    try:
        summary = _train_in(world, config, task_name, verbose, quiet)
        finished_here = True
    finally:
        world.close(finished_here)
    return summary if world.is_main else None


def _train_in(world: World, config: RunConfig, task_name: str, verbose: bool, quiet: bool) -> dict[str, Any]:
    path = world.broadcast(run_path(config, task_name))  # the main process's (a default one has a timestamp)
    with claim_shared(world, path, {**config.to_dict(), "task": task_name}) as (finished, run, state):
        # Every worker got the same (finished, state): each decides alike, so none waits for another.
        if finished is not None and (
            nothing_left(config, state) or (state is not None and stopped_for_good(config, state))
        ):
            steps = finished.get("train", {}).get("steps", "?")
            raise RunDirError(
                f"The run in {path} is finished ({steps} steps); its metrics.json is unchanged.",
                "Pass more --epochs or --max-steps to train on, or --overwrite to start again.",
            )
        with StopOnSigterm() as stop:
            return fit(replace(config, output_dir=str(path)), run, state, stop, verbose, quiet, world)


def fit(config: RunConfig, run: RunDir, resume_from: Position | None, stop: StopOnSigterm,
        verbose: bool = False, quiet: bool = False, world: World | None = None) -> dict[str, Any]:
    """Fine-tune; evaluate, checkpoint and log when the plan says; keep the best model in model/;
    stop early when asked. Returns what metrics.json holds.

    ``resume_from``: the checkpoint position ``claim`` read and checked for --resume (None: a new run).
    ``world``: the data-parallel workers; every one runs this, only the main one writes and reports.
    """
    world = world or World()
    started = time.perf_counter()
    # Before any work: an unknown or uninstalled --report-to reporter is one line, not a late failure.
    reporters = enabled_reporters(split_list(config.report_to) or (), get_plugins().pm)
    p = prepare_training(config)
    best = best_metric(config, p.task.metrics, p.task.eval_splits)
    precision = choose_precision(p.backend, config.precision, config.amp, p.backend.devices()[0])
    if world.is_main and config.xla and (note := xla_note(p.backend, p.backend.devices()[0])):
        warn(f"--xla: {note}")
    emit = EventSink(get_plugins().pm, reporters) if world.is_main else WorkerSink(get_plugins().pm)

    plan = Plan.of(config, len(p.encoded["train"]))
    if resume_from is not None and resume_from.steps_per_epoch not in (None, plan.steps_per_epoch):
        raise DataError(f"{run.checkpoint}: the checkpoint's epochs are {resume_from.steps_per_epoch} updates, "
                        f"this run's {plan.steps_per_epoch}: the training data changed.",
                        "Resume with the run's data, or start a new run.")
    schedule = Schedule(config.learning_rate, plan.total_steps, plan.warmup_steps, config.lr_scheduler)
    engine, start = build_engine(p, config, precision, run, resume_from, plan.total_steps, verbose)
    if start.best is not None:
        best = Best.from_dict(start.best)
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
        plan.epochs, plan.steps_per_epoch, plan.total_steps, len(p.encoded["train"]),
        {s: len(p.encoded[s]) for s in p.task.eval_splits}, start.step, quiet,
        {s: e.cached for s, e in p.encoded.items()},
    ))

    progress = Progress(step=start.step, compiles=engine.compile_count(), epoch_seconds=list(start.epoch_seconds),
                        examples=start.examples, last_eval=dict(start.last_eval),
                        stopped_early=start.stopped_early and stopped_for_good(config, start))

    def position(tally: EpochTally) -> Position:
        return Position(
            progress.step, progress.step // plan.steps_per_epoch, p.backend.name, progress.epoch_seconds,
            progress.examples + (0 if tally.closed else tally.seen), progress.step % plan.steps_per_epoch,
            plan.steps_per_epoch,
            0.0 if tally.closed else tally.elapsed(), best.to_dict(), progress.last_eval, progress.stopped_early,
        )

    def after_step(epoch: int, tally: EpochTally) -> bool:
        t_pause = time.perf_counter()
        if plan.due(plan.eval_steps, progress.step):
            evaluate(engine, p, config, run, best, progress, epoch, emit, world)
        if stop.requested:  # SIGTERM: keep this step's state, then exit
            if world.is_main:
                save_checkpoint(engine, run, position(tally))
            emit(CheckpointSaved(str(run.checkpoint), progress.step, epoch + tally.closed))
            raise Stopped(f"Stopped by SIGTERM at step {progress.step}; checkpoint saved in {run.checkpoint}.",
                          "Rerun with --resume to continue.")
        if plan.due(plan.save_steps, progress.step) or progress.stopped_early:
            if world.is_main:
                save_checkpoint(engine, run, position(tally))
            emit(CheckpointSaved(str(run.checkpoint), progress.step, epoch + tally.closed))
        if not tally.closed:  # evaluating and saving mid-epoch is not training time
            tally.started += time.perf_counter() - t_pause
        return progress.stopped_early

    epoch = start.step // plan.steps_per_epoch
    resumed_seconds = start.epoch_elapsed
    if len(progress.epoch_seconds) > epoch and progress.step < plan.total_steps:
        # An earlier --max-steps ended mid-epoch and closed that epoch; training on reopens it.
        resumed_seconds = progress.epoch_seconds.pop()
    while progress.step < plan.total_steps and not progress.stopped_early:
        tally = EpochTally(time.perf_counter() - resumed_seconds)
        resumed_seconds = 0.0
        if train_epoch(engine, p, config, epoch, schedule, progress, plan, emit, tally, after_step, world):
            break
        epoch += 1

    if best.value is None:  # resumed at the last step from a checkpoint that kept no evaluation
        evaluate(engine, p, config, run, best, progress, max(0, epoch - 1), emit, world)
    summary = summarize(p, precision, progress, best)
    if config.do_predict:
        if best.step != progress.step:  # the predictions come from the best model, as model/ does
            engine = create_engine(p, config, precision, str(run.model), verbose)
        summary["predictions"] = predict_test(
            engine, p, config.eval_batch_size, config.max_seq_length, run.predictions, overwrite=True, world=world,
        )
    if world.is_main:
        with writing(run.metrics, "metrics", "Free space, then rerun with --resume."):
            run.write_metrics(summary)
    world.broadcast(None)  # the workers end together, once the main one has written everything
    emit(RunEnded(best.metrics, sum(progress.this_process_seconds), time.perf_counter() - started,
                  progress.compiles, progress.this_process_seconds))
    return summary
