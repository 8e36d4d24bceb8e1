"""Evaluating a saved model on a task's dev split(s), with any backend."""

from __future__ import annotations

from glue_cli.backends import ModelSpec, choose_precision
from glue_cli.models import label_permutation, read_label2id
from glue_cli.trainer import evaluate_all, prepare_data


def evaluate(
    task: str, model: str, backend: str, data_dir: str | None, max_length: int, batch_size: int,
    max_samples: int | None, amp: bool, precision: str | None, verbose: bool,
    devices: int | None = None,
) -> dict[str, dict[str, float]]:
    from glue_cli.plugins import get_tasks

    limits = {s: max_samples for s in get_tasks().get(task).eval_splits}
    p = prepare_data(task, backend, model, data_dir, None, max_length, limits)
    chosen = choose_precision(p.backend, precision, amp, p.backend.devices()[0])
    labels = p.task.labels or ("score",)
    spec = ModelSpec(
        path=p.model, num_labels=p.task.num_labels, regression=p.task.is_regression,
        id2label=dict(enumerate(labels)), precision=chosen, devices=devices, verbose=verbose,
    )
    engine = p.backend.create(spec, 0)
    permutation = None
    if p.task.labels is not None:
        permutation = label_permutation(p.task.labels, read_label2id(p.model))
    return evaluate_all(engine, p, batch_size, max_length, None, 0, permutation)
