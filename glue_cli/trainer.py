"""The training loop every backend shares: data, schedule, epochs, evaluation, checkpoints.

A backend only supplies the framework part (an ``Engine``: one step, logits, saving), the
way Keras keeps the fit loop once in ``trainers/`` and the per-framework steps in backends.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

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
from glue_cli.data import Split, read_glue_split, task_data_dir
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
from glue_cli.models import load_tokenizer, resolve_model
from glue_cli.optimization import OptimizerSettings, Schedule
from glue_cli.plugins import get_backends, get_plugins, get_tasks
from glue_cli.runs import default_run_path, git_commit, prepare
from glue_cli.tasks import Task

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


def prepare_data(
    task_name: str, backend_name: str, model: str, data_dir: str | None, splits: list[str] | None,
    max_length: int, limits: dict[str, int | None],
) -> Prepared:
    """Resolve names, check the backend, read and tokenize the splits (task's eval splits by default)."""
    task = get_tasks().get(task_name)
    backend = get_backends().get(backend_name)
    require_available(backend)
    only_framework(backend.framework)  # before transformers is first imported
    model_path = resolve_model(model)
    folder = task_data_dir(task, Path(data_dir) if data_dir else None)
    wanted = splits if splits is not None else list(task.eval_splits)
    read = {s: read_glue_split(task, folder, s).head(limits.get(s)) for s in wanted}
    tokenizer = load_tokenizer(model_path)
    encoded = {s: encode(split, tokenizer, max_length) for s, split in read.items()}
    return Prepared(task, backend, model_path, tokenizer, read, encoded)


def evaluate_all(
    engine: Any, p: Prepared, batch_size: int, max_length: int, emit: EventSink | None,
    epoch: int, permutation: list[int] | None = None,
) -> dict[str, dict[str, float]]:
    results = {}
    for name in p.task.eval_splits:
        start = time.perf_counter()
        logits = split_logits(
            engine, p.backend, p.encoded[name], batch_size, max_length,
            p.tokenizer.pad_token_id or 0, p.task.num_labels,
        )
        if permutation is not None:
            logits = logits[:, permutation]
        labels = p.splits[name].labels
        assert labels is not None
        results[name] = score(p.task, logits, labels)
        if emit is not None:
            emit(EvalEnded(epoch, name, results[name], len(labels), time.perf_counter() - start))
    return results


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


def train(config: RunConfig, verbose: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Fine-tune, evaluate after each epoch, checkpoint, save; returns what metrics.json holds."""
    started = time.perf_counter()
    limits = {"train": config.max_train_samples}
    limits.update({s: config.max_eval_samples for s in ("validation", "validation_matched",
                                                         "validation_mismatched")})
    task = get_tasks().get(config.task)
    p = prepare_data(
        config.task, config.backend, config.model, config.data_dir,
        ["train", *task.eval_splits], config.max_seq_length, limits,
    )
    precision = choose_precision(p.backend, config.precision, config.amp, p.backend.devices()[0])
    out = Path(config.output_dir or default_run_path(p.task.name, p.backend.name))
    run = prepare(out, config.overwrite, config.resume)
    emit = EventSink(get_plugins().pm)

    train_data = p.encoded["train"]
    steps_per_epoch = num_batches(len(train_data), config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    schedule = Schedule.from_ratio(config.learning_rate, total_steps, config.warmup_ratio)
    start_step = 0
    weights = p.model
    if config.resume:
        state = json.loads((run.checkpoint / "state.json").read_text(encoding="utf-8"))
        start_step, weights = int(state["step"]), str(run.checkpoint / "model")
    engine = p.backend.create(model_spec(p, config, precision, weights, verbose), total_steps)
    if config.resume:
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
    ))

    step, compiles = start_step, engine.compile_count()
    results: dict[str, dict[str, float]] = {}
    epoch_seconds: list[float] = []
    examples_total = 0
    pad_id = p.tokenizer.pad_token_id or 0
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
        seconds = time.perf_counter() - t_epoch
        epoch_seconds.append(seconds)
        examples_total += seen
        emit(EpochEnded(epoch + 1, seconds, loss_sum / max(1, seen), seen, seen / seconds))
        results = evaluate_all(
            engine, p, config.eval_batch_size, config.max_seq_length, emit, epoch + 1
        )
        with atomic_dir(run.checkpoint) as tmp:
            engine.save_model(tmp / "model")
            engine.save_state(tmp)
            write_json(tmp / "state.json", {"step": step, "epoch": epoch + 1})
        emit(CheckpointSaved(str(run.checkpoint), step, epoch + 1))

    with atomic_dir(run.model) as tmp:
        engine.save_model(tmp)
        p.tokenizer.save_pretrained(str(tmp))
    train_seconds = sum(epoch_seconds)
    summary = {
        "task": p.task.name,
        "backend": p.backend.name,
        "precision": precision,
        "eval": results,
        "train": {
            "seconds": round(train_seconds, 3),
            "epoch_seconds": [round(s, 3) for s in epoch_seconds],
            "steps": step - start_step,
            "examples_per_second": round(examples_total / train_seconds, 2)
            if train_seconds else 0.0,
        },
    }
    run.write_metrics(summary)
    emit(RunEnded(results, train_seconds, time.perf_counter() - started, compiles, epoch_seconds))
    return summary
