"""The training loop every backend shares: schedule, epochs, evaluation, checkpoints, the final save.

A backend only supplies the framework part (an ``Engine``: one step, logits, its weights and
state), the way Keras keeps the fit loop once in ``trainers/`` and the per-framework steps in
backends. Getting from names to tokenized data and a model spec is ``pipeline``'s job.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.markup import escape

from glue_cli import checkpoint, sources
from glue_cli.atomic import atomic_dir
from glue_cli.backends import Engine, choose_precision
from glue_cli.batching import Batch, iterate, num_batches, split_rows, train_order
from glue_cli.checkpoint import Position
from glue_cli.config import RunConfig
from glue_cli.display import console
from glue_cli.errors import ConfigError
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
class Best:
    """The best evaluation so far (``model/`` holds its weights) and the early-stopping count."""

    metric: str
    split: str
    greater_is_better: bool
    value: float | None = None
    step: int = 0
    epoch: int = 0
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    # Evaluations since the last improvement (--early-stopping-patience counts them).
    evaluations_without_improvement: int = 0

    def improves(self, value: float) -> bool:
        """Strictly better than the best so far; NaN (a correlation of constant predictions) is the worst."""
        if self.value is None or math.isnan(self.value):
            return self.value is None or not math.isnan(value)
        return value > self.value if self.greater_is_better else value < self.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "split": self.split, "greater_is_better": self.greater_is_better,
            "value": self.value, "step": self.step, "epoch": self.epoch, "metrics": self.metrics,
            "evaluations_without_improvement": self.evaluations_without_improvement,
        }


@dataclass
class Progress:
    """What the loop has done so far in this process."""

    step: int
    compiles: int
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    examples: int = 0
    # The latest evaluation: {"step", "epoch", "metrics"}.
    last_eval: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False


@dataclass(frozen=True)
class Plan:
    """How many updates a run makes, and when it evaluates, saves and logs (steps are optimizer updates)."""

    steps_per_epoch: int
    total_steps: int
    epochs: int
    update_rows: int  # rows per update: batch_size x gradient_accumulation_steps
    eval_steps: int | None
    save_steps: int | None
    logging_steps: int

    @classmethod
    def of(cls, config: RunConfig, train_rows: int) -> Plan:
        update_rows = config.batch_size * config.gradient_accumulation_steps
        per_epoch = num_batches(train_rows, update_rows)
        total = config.max_steps or per_epoch * config.epochs
        return cls(per_epoch, total, -(-total // per_epoch), update_rows, config.eval_steps, config.save_steps,
                   config.logging_steps or 1)

    def due(self, every: int | None, step: int) -> bool:
        """At ``step``: every ``every`` updates, else at each epoch's end; always at the run's last update."""
        if step == self.total_steps:
            return True
        return step % every == 0 if every else step % self.steps_per_epoch == 0


def best_metric(config: RunConfig, task_metrics: tuple[str, ...], eval_splits: tuple[str, ...]) -> Best:
    """What ``--metric-for-best-model`` names (``split/metric`` or ``metric`` on the first eval split);
    by default the task's first metric. A name with ``loss`` in it is lower-is-better unless
    ``--greater-is-better`` says otherwise."""
    name = config.metric_for_best_model or task_metrics[0]
    split, _, metric = name.rpartition("/")
    split = split or eval_splits[0]
    known = [*task_metrics, *(("combined_score",) if len(task_metrics) > 1 else ())]
    if split not in eval_splits or metric not in known:
        raise ConfigError(
            f"--metric-for-best-model {name!r} is not a metric of this task.",
            f"Pass one of {', '.join(known)} (or SPLIT/METRIC with a split of {', '.join(eval_splits)}).",
        )
    greater = config.greater_is_better if config.greater_is_better is not None else "loss" not in metric
    return Best(metric, split, greater)


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


def build_engine(
    p: Prepared, config: RunConfig, precision: str, verbose: bool, path: str | None = None,
) -> Engine:
    """An engine on the prepared model (or the model at ``path``: a checkpoint's, the best one)."""
    spec = model_spec(
        p, precision, path=path, xla=config.xla, seed=config.seed, devices=config.devices, verbose=verbose,
        optimizer=OptimizerSettings(
            weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm,
            beta1=config.adam_beta1, beta2=config.adam_beta2, epsilon=config.adam_epsilon,
        ),
        label_smoothing=config.label_smoothing,
    )
    return p.backend.create(spec)


def update(engine: Engine, batch: Batch, micro_rows: int, learning_rate: float) -> float:
    """One optimizer update on ``batch``, in micro-batches of ``micro_rows`` rows when it holds more
    (``--gradient-accumulation-steps``). An engine without ``train_micro_batches`` (plugin API 2.0)
    trains the whole batch at once: the same update."""
    if batch.shape[0] <= micro_rows:
        return engine.train_step(batch, learning_rate)
    accumulate = getattr(engine, "train_micro_batches", None)
    if accumulate is None:
        return engine.train_step(batch, learning_rate)
    return float(accumulate(split_rows(batch, micro_rows), learning_rate))


@dataclass
class Window:
    """The updates since the last StepEnded (``--logging-steps``): their mean loss, examples, seconds."""

    loss_sum: float = 0.0
    examples: int = 0
    seconds: float = 0.0

    def add(self, loss: float, examples: int, seconds: float) -> None:
        self.loss_sum += loss * examples
        self.examples += examples
        self.seconds += seconds


def train_epoch(
    engine: Engine, p: Prepared, config: RunConfig, epoch: int, schedule: Schedule, progress: Progress,
    plan: Plan, emit: EventSink, after_step: Callable[[int], bool],
) -> bool:
    """One pass over the training rows (the ones not yet seen when resuming mid-epoch), up to the run's
    last update; ``after_step(epoch)`` evaluates/saves when due and says whether to stop early."""
    train_data = p.encoded["train"]
    emit(EpochStarted(epoch + 1, plan.steps_per_epoch, progress.step))
    t_epoch, loss_sum, seen, stop = time.perf_counter(), 0.0, 0, False
    window = Window()
    epoch_end = min((epoch + 1) * plan.steps_per_epoch, plan.total_steps)
    for batch in iterate(
        train_data, plan.update_rows, p.backend.pad_multiple, config.max_seq_length,
        order=train_order(train_data.lengths, plan.update_rows, config.seed, epoch, config.group_by_length),
        fixed_rows=p.backend.fixed_batch_rows, pad_token_id=p.pad_id,
        skip=progress.step - epoch * plan.steps_per_epoch,
    ):
        if progress.step >= plan.total_steps:
            break
        t_step = time.perf_counter()
        rate = schedule.rate(progress.step)
        loss = update(engine, batch, config.batch_size, rate)
        progress.step += 1
        if engine.compile_count() != progress.compiles:
            progress.compiles = engine.compile_count()
            emit(Compiled(progress.step, list(batch.shape), progress.compiles))
        loss_sum += loss * batch.num_examples
        seen += batch.num_examples
        window.add(loss, batch.num_examples, time.perf_counter() - t_step)
        if progress.step % plan.logging_steps == 0 or progress.step == epoch_end:
            emit(StepEnded(progress.step, epoch + 1, window.loss_sum / max(1, window.examples), rate,
                           window.examples, window.seconds))
            window = Window()
        if after_step(epoch):
            stop = True
            break
    seconds = time.perf_counter() - t_epoch
    progress.epoch_seconds.append(seconds)
    progress.examples += seen
    emit(EpochEnded(epoch + 1, seconds, loss_sum / max(1, seen), seen, seen / seconds if seconds else 0.0))
    return stop


def save_final_model(engine: Engine, p: Prepared, run: RunDir, config: RunConfig) -> None:
    """model/: the weights, the tokenizer and the task record that glue eval/predict rebuild the task from."""
    with atomic_dir(run.model) as tmp:
        engine.save_model(tmp)
        p.tokenizer.save_pretrained(str(tmp))
        sources.record_task(tmp, p.task, run_files(config))


def summarize(p: Prepared, precision: str, progress: Progress, start: Position, best: Best) -> dict[str, Any]:
    """What metrics.json holds: ``eval`` is the best evaluation's metrics (the model in model/),
    ``best`` where it came from, ``last_eval`` the run's latest evaluation."""
    seconds = sum(progress.epoch_seconds)
    return {
        "task": p.task.name,
        "backend": p.backend.name,
        "precision": precision,
        "eval": best.metrics,
        "best": {k: v for k, v in best.to_dict().items() if k not in {"metrics", "evaluations_without_improvement"}},
        "last_eval": progress.last_eval,
        "stopped_early": progress.stopped_early,
        "train": {
            "seconds": round(seconds, 3),
            "epoch_seconds": [round(s, 3) for s in progress.epoch_seconds],
            "steps": progress.step - start.step,
            "total_steps": progress.step,
            "examples_per_second": round(progress.examples / seconds, 2) if seconds else 0.0,
        },
    }


def finished(run: RunDir, config: RunConfig, start: Position, state: dict[str, Any], plan: Plan) -> bool:
    """A --resume of a run that has done all its updates (or stopped early) and written metrics.json."""
    done = start.step >= plan.total_steps or bool(state.get("stopped_early"))
    return config.resume and done and run.metrics.is_file()


def train(config: RunConfig, verbose: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Fine-tune, evaluate and checkpoint when due, keep the best model; returns what metrics.json holds."""
    started = time.perf_counter()
    # Before any work: an unknown or uninstalled --report-to reporter is one line, not a late failure.
    reporters = enabled_reporters(split_list(config.report_to) or (), get_plugins().pm)
    p = prepare_training(config)
    best = best_metric(config, p.task.metrics, p.task.eval_splits)
    precision = choose_precision(p.backend, config.precision, config.amp, p.backend.devices()[0])
    run = prepare(Path(config.output_dir or default_run_path(p.task.name, p.backend.name)),
                  config.overwrite, config.resume)
    emit = EventSink(get_plugins().pm, reporters)

    plan = Plan.of(config, len(p.encoded["train"]))
    start, state = Position(0, 0, p.backend.name), {}
    if config.resume:
        start, state = checkpoint.read(run.checkpoint), checkpoint.read_trainer_state(run.checkpoint)
        if finished(run, config, start, state, plan):
            if not quiet:
                console().print(f"The run in {escape(str(run.path))} is finished ({start.step} steps); "
                                "metrics.json is left as it is. Pass more --epochs to train on.")
            summary: dict[str, Any] = json.loads(run.metrics.read_text(encoding="utf-8"))
            return summary
        if "best" in state:
            best = Best(**state["best"])
    warmup = config.warmup_steps
    if warmup is None:
        warmup = math.ceil(plan.total_steps * config.warmup_ratio)
    schedule = Schedule(config.learning_rate, plan.total_steps, warmup, config.lr_scheduler)
    resume_from = checkpoint.model_path(run.checkpoint) if config.resume else None
    engine = build_engine(p, config, precision, verbose, resume_from)
    if config.resume:
        checkpoint.restore(engine, run.checkpoint, start, p.backend.name)
    run.write_config({
        **config.to_dict(),
        "task": p.task.name, "backend": p.backend.name, "model_path": p.model,
        "precision": precision, "device": engine.device,
        "versions": versions(), "git_commit": git_commit(),
    })
    emit(RunStarted(
        str(run.path), p.task.name, p.backend.name, engine.device, precision, config.model,
        plan.epochs, plan.steps_per_epoch, plan.total_steps, len(p.encoded["train"]),
        {s: len(p.encoded[s]) for s in p.task.eval_splits}, start.step, quiet,
        {s: e.cached for s, e in p.encoded.items()},
    ))

    progress = Progress(step=start.step, compiles=engine.compile_count(), last_eval=state.get("last_eval", {}))

    def evaluate(epoch: int) -> None:
        pending = run.path / ".eval_predictions.pending"
        results = evaluate_all(engine, p, config.eval_batch_size, config.max_seq_length, emit, epoch + 1,
                               predictions_dir=pending)
        progress.last_eval = {"step": progress.step, "epoch": epoch + 1, "metrics": results}
        value = results[best.split][best.metric]
        if best.improves(value):
            best.value, best.step, best.epoch, best.metrics = value, progress.step, epoch + 1, results
            best.evaluations_without_improvement = 0
            save_final_model(engine, p, run, config)
            shutil.rmtree(run.path / EVAL_PREDICTIONS, ignore_errors=True)
            pending.rename(run.path / EVAL_PREDICTIONS)
        else:
            best.evaluations_without_improvement += 1
            shutil.rmtree(pending, ignore_errors=True)
        patience = config.early_stopping_patience
        progress.stopped_early = patience is not None and best.evaluations_without_improvement >= patience

    def after_step(epoch: int) -> bool:
        if plan.due(plan.eval_steps, progress.step):
            evaluate(epoch)
        if plan.due(plan.save_steps, progress.step) or progress.stopped_early:
            trainer_state = {"best": best.to_dict(), "last_eval": progress.last_eval,
                             "stopped_early": progress.stopped_early}
            checkpoint.save(engine, run.checkpoint, Position(progress.step, epoch + 1, p.backend.name), trainer_state)
            emit(CheckpointSaved(str(run.checkpoint), progress.step, epoch + 1))
        return progress.stopped_early

    for epoch in range(start.step // plan.steps_per_epoch, plan.epochs):
        if train_epoch(engine, p, config, epoch, schedule, progress, plan, emit, after_step):
            break

    summary = summarize(p, precision, progress, start, best)
    if config.do_predict:
        if best.step != progress.step:  # the predictions come from the best model, as model/ does
            engine = build_engine(p, config, precision, verbose, str(run.model))
        summary["predictions"] = predict_test(
            engine, p, config.eval_batch_size, config.max_seq_length, run.predictions, overwrite=True
        )
    run.write_metrics(summary)
    train_seconds = sum(progress.epoch_seconds)
    emit(RunEnded(best.metrics, train_seconds, time.perf_counter() - started, progress.compiles,
                  progress.epoch_seconds))
    return summary
