"""Which data a command reads: a GLUE folder, the hub, or the user's own files.

- custom files (``--train-file`` ...) make a custom task;
- else ``--data-dir`` or ``$GLUE_DIR/<TASK>``: the GLUE download layout;
- else the Hugging Face hub (``nyu-mll/glue``), which fails in one line when offline.

A trained model records its task in its ``config.json`` (``glue_task``), so ``glue eval`` and
``glue predict`` know a custom task's labels and text fields, and can leave TASK out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from glue_cli.data import custom
from glue_cli.data.glue_folder import Split, glue_folder, has_glue_split, read_glue_split
from glue_cli.data.tasks import Task
from glue_cli.errors import DataError, GlueError, ModelError
from glue_cli.plugins.manager import get_tasks
from glue_cli.plugins.registry import normalize

RECORD_KEY = "glue_task"
ROLES = ("train", "eval", "test")


def split_names(task: Task, role: str) -> tuple[str, ...]:
    return {"train": ("train",), "eval": task.eval_splits, "test": task.unlabelled_splits}[role]


def load(
    task_name: str | None,
    data_dir: str | None,
    files: custom.Files,
    roles: tuple[str, ...],
    limits: dict[str, int | None] | None = None,
    recorded: dict[str, Any] | None = None,
) -> tuple[Task, dict[str, Split]]:
    """The task and its splits for ``roles`` (``train``, ``eval``, ``test``), first N rows by ``limits``."""
    limits = limits or {}
    recorded_task = task_from_record(recorded) if recorded else None
    name = task_name or (recorded_task.name if recorded_task else None)
    if files.given:
        name = name or custom.DEFAULT_NAME
        registered = normalize(name) in {normalize(n) for t in get_tasks() for n in (t.name, *t.aliases)}
        if registered and not (recorded_task and recorded_task.is_custom):
            raise DataError(
                f"{name!r} is a GLUE task, but --train-file/--validation-file/--test-file make a custom task.",
                "Leave the task name out (or name it, e.g. glue train my-task --train-file ...), "
                "or drop the file options to read the GLUE files.",
            )
        wanted = tuple({"train": "train", "eval": "validation", "test": "test"}[r] for r in roles)
        known = recorded_task if recorded_task and recorded_task.is_custom else None
        task, splits = custom.load(name, files, wanted, known)
    else:
        if name is None:
            raise DataError("No task given.", "Pass it first, as in: glue train mrpc (see glue tasks).")
        if (files.text_fields or files.label_field or files.labels) and not (recorded_task and recorded_task.is_custom):
            raise DataError(
                "--text-fields, --label-field and --labels describe your own files; a GLUE task has its own.",
                "Add --train-file/--validation-file/--test-file, or drop those options.",
            )
        if recorded_task is not None and recorded_task.is_custom and normalize(name) == normalize(
            recorded_task.name
        ):
            raise DataError(
                f"The model was trained on the custom task {name!r}: pass its data files.",
                "Add --validation-file (glue eval) or --test-file (glue predict).",
            )
        task = get_tasks().get(name)
        splits = read_task_splits(task, data_dir, roles)
    return task, {s: split.head(limits.get(s)) for s, split in splits.items()}


def read_task_splits(task: Task, data_dir: str | None, roles: tuple[str, ...]) -> dict[str, Split]:
    """A registered task's splits from its GLUE folder, or from the hub when there is none."""
    return read_named_splits(task, data_dir, [s for role in roles for s in split_names(task, role)])


def read_named_splits(task: Task, data_dir: str | None, names: list[str]) -> dict[str, Split]:
    folder = glue_folder(task, Path(data_dir) if data_dir else None)
    out: dict[str, Split] = {}
    for split in names:
        optional = split in task.optional_test_splits
        if folder is not None:
            if optional and not has_glue_split(task, folder, split):
                continue
            out[split] = read_glue_split(task, folder, split)
        else:
            from glue_cli.data.hub import read_hub_split

            try:
                out[split] = read_hub_split(task, split)
            except DataError:
                if not optional:
                    raise
    return out


# -- the task a model was trained on -----------------------------------------------------


def task_record(task: Task, files: custom.Files) -> dict[str, Any]:
    """What a saved model's config.json keeps about its task (``glue_task``)."""
    return {
        "name": task.name,
        "custom": task.is_custom,
        "text_fields": list(task.text_fields),
        "labels": list(task.labels) if task.labels is not None else None,
        "label_field": files.label_field or custom.DEFAULT_LABEL_FIELD if task.is_custom else None,
    }


def record_task(model_dir: Path, task: Task, files: custom.Files) -> None:
    """Add the task record to a saved model's config.json (transformers keeps unknown keys)."""
    path = model_dir / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config[RECORD_KEY] = task_record(task, files)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_record(model_dir: str | Path) -> dict[str, Any] | None:
    """The model's task record, checked: a model folder is often someone else's, and its names must
    not choose a path (``../../X``) nor crash the command with a wrong type."""
    from glue_cli.validation import read_model_config, safe_name

    path = Path(model_dir) / "config.json"
    if not path.is_file():
        return None
    record = read_model_config(path).get(RECORD_KEY)
    if not isinstance(record, dict):
        return None

    def names(value: Any, low: int, high: int) -> bool:
        return isinstance(value, list) and low <= len(value) <= high and all(isinstance(v, str) for v in value)

    labels = record.get("labels")
    problem = None
    if not isinstance(record.get("name"), str):
        problem = "its name is not a string"
    elif record.get("custom") and not names(record.get("text_fields"), 1, 2):
        problem = "its text_fields are not one or two names"
    elif record.get("custom") and labels is not None and not (
        names(labels, 2, 10_000) and len(set(labels)) == len(labels)
    ):
        problem = "its labels are not two or more distinct names"
    elif not isinstance(record.get("label_field"), str | None):
        problem = "its label_field is not a string"
    if problem:
        raise ModelError(f"{path}: the {RECORD_KEY} record is invalid: {problem}.",
                         "Pass a model folder saved by glue train.")
    if record.get("custom"):
        try:
            safe_name(record["name"], "Task name")
        except GlueError as exc:
            raise ModelError(f"{path}: {exc.message}", "The model folder may not be safe to use.") from None
    return record


def task_from_record(record: dict[str, Any]) -> Task:
    if not record.get("custom"):
        return get_tasks().get(str(record["name"]))
    labels = record.get("labels")
    return custom.custom_task(
        str(record["name"]), tuple(record["text_fields"]), tuple(labels) if labels is not None else None
    )


def files_with_record(files: custom.Files, record: dict[str, Any] | None) -> custom.Files:
    """Fill the text and label fields a custom model was trained with, unless given again."""
    if not record or not record.get("custom"):
        return files
    return custom.Files(
        files.train, files.validation, files.test,
        files.text_fields or tuple(record["text_fields"]),
        files.label_field or record.get("label_field"),
        files.labels,
    )
