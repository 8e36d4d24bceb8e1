"""Checks on every setting before any work, and on names that become paths.

Every check fails with one line naming the setting and where its value came from (the flag,
``GLUE_<NAME>`` or the ``--config`` file), so a typo costs a second, not a run.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from glue_cli.errors import ConfigError, GlueError, ModelError

# Shortest --max-seq-length: [CLS] a [SEP] b [SEP] plus a few tokens of text.
MIN_SEQ_LENGTH = 8
# Seeds go to numpy's legacy seeding (tf_keras.utils.set_random_seed), which takes 32 bits.
MAX_SEED = 2**32 - 1
# Models whose position ids start after the padding index (RoBERTa's family) use two positions less.
OFFSET_POSITIONS = {"roberta": 2, "xlm-roberta": 2, "camembert": 2, "longformer": 2, "bart": 2, "mpnet": 2}
PRECISIONS = ("fp32", "bf16", "fp16")
# A name that may become a file or folder name: no separators, no dot-only names, no control characters.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,127}")


def _label(name: str, sources: dict[str, str]) -> str:
    from glue_cli.config import flag_name

    return sources.get(name, flag_name(name))


def _refuse(name: str, sources: dict[str, str], value: Any, what: str) -> None:
    raise ConfigError(f"{_label(name, sources)} must be {what}, not {value!r}.", "")


def check_int(name: str, value: Any, sources: dict[str, str], low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _refuse(name, sources, value, "an integer")
    if value < low or (high is not None and value > high):
        _refuse(name, sources, value, f"between {low} and {high}" if high is not None else f"at least {low}")


def check_float(
    name: str, value: Any, sources: dict[str, str], low: float, high: float | None = None,
    low_open: bool = False, high_open: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _refuse(name, sources, value, "a finite number")
    too_low = value <= low if low_open else value < low
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        span = f"in {left}{low}, {high}{right}" if high is not None else (
            f"above {low}" if low_open else f"at least {low}")
        _refuse(name, sources, value, span)


def check_settings(config: Any, sources: dict[str, str]) -> None:
    """Types, ranges and finiteness of a RunConfig's values; the model's position limit."""
    for f in fields(config):
        value = getattr(config, f.name)
        kind = str(f.type)
        if value is None:
            continue
        if kind.startswith("str") and not isinstance(value, str):
            _refuse(f.name, sources, value, "a string")
        if kind.startswith("bool") and not isinstance(value, bool):
            _refuse(f.name, sources, value, "true or false")
    for name in ("epochs", "batch_size", "eval_batch_size"):
        check_int(name, getattr(config, name), sources, 1)
    for name in ("max_train_samples", "max_eval_samples", "devices", "eval_steps", "save_steps",
                 "logging_steps", "max_steps", "early_stopping_patience", "gradient_accumulation_steps"):
        if getattr(config, name) is not None:
            check_int(name, getattr(config, name), sources, 1)
    if config.warmup_steps is not None:
        check_int("warmup_steps", config.warmup_steps, sources, 0)
    for name in ("adam_beta1", "adam_beta2", "label_smoothing"):
        check_float(name, getattr(config, name), sources, 0.0, 1.0, high_open=True)
    check_float("adam_epsilon", config.adam_epsilon, sources, 0.0, low_open=True)
    check_scheduler(config.lr_scheduler, _label("lr_scheduler", sources))
    check_int("seed", config.seed, sources, 0, MAX_SEED)
    check_float("learning_rate", config.learning_rate, sources, 0.0, low_open=True)
    check_float("warmup_ratio", config.warmup_ratio, sources, 0.0, 1.0, high_open=True)
    check_float("weight_decay", config.weight_decay, sources, 0.0)
    check_float("max_grad_norm", config.max_grad_norm, sources, 0.0, low_open=True)
    check_precision(config.precision, _label("precision", sources))
    check_seq_length(config.max_seq_length, _label("max_seq_length", sources), config.model)
    for name in ("model", "output_dir", "data_dir", "train_file", "validation_file", "test_file"):
        value = getattr(config, name)
        if value is not None and (not value.strip() or "\0" in value):
            _refuse(name, sources, value, "a non-empty path")


def check_scheduler(kind: str, label: str) -> None:
    from glue_cli.config import SCHEDULERS

    if kind not in SCHEDULERS:
        raise ConfigError(f"Unknown learning-rate scheduler {kind!r} ({label}).",
                          f"Use one of: {', '.join(SCHEDULERS)}.")


def check_precision(precision: str | None, label: str) -> None:
    if precision is not None and precision not in PRECISIONS:
        raise ConfigError(f"Unknown precision {precision!r} ({label}).", f"Use one of: {', '.join(PRECISIONS)}.")


def check_seq_length(value: Any, label: str, model: str | None) -> None:
    """``--max-seq-length`` between MIN_SEQ_LENGTH and the model's position limit (when the model is local)."""
    limit = position_limit(model) if model else None
    check_int("max_seq_length", value, {"max_seq_length": label}, MIN_SEQ_LENGTH, limit)


def check_inference(
    batch_size: int, batch_size_label: str, max_seq_length: int, max_seq_label: str,
    max_eval_samples: int | None, devices: int | None, precision: str | None, model: str,
) -> None:
    """glue eval / glue predict settings, before any data or model is read."""
    check_int("batch_size", batch_size, {"batch_size": batch_size_label}, 1)
    if max_eval_samples is not None:
        check_int("max_eval_samples", max_eval_samples, {}, 1)
    if devices is not None:
        check_int("devices", devices, {}, 1)
    check_precision(precision, "--precision")
    check_seq_length(max_seq_length, max_seq_label, model)


def read_model_config(path: Path) -> dict[str, Any]:
    """A model folder's config.json as a dict, or one line naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a valid model config ({str(exc).splitlines()[0] or 'empty'}).",
                         "Pass --model with a model folder saved by glue train or transformers.") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: not a valid model config (a JSON object is expected).", "")
    return data


def position_limit(model: str) -> int | None:
    """The longest input a local model takes (None for a hub id or a folder we cannot read yet)."""
    from glue_cli.training.models import resolve_model

    try:
        path = Path(resolve_model(model))
    except GlueError:
        return None  # reported, with its hint, where the model is loaded
    config_file = path / "config.json"
    if not config_file.is_file():
        return None
    config = read_model_config(config_file)
    positions = config.get("max_position_embeddings")
    if positions is None:
        return None
    if isinstance(positions, bool) or not isinstance(positions, int) or positions < 1:
        raise ModelError(f"{config_file}: max_position_embeddings = {positions!r} is not a positive integer.", "")
    model_type = config.get("model_type")
    return positions - OFFSET_POSITIONS.get(model_type, 0) if isinstance(model_type, str) else positions


def safe_name(name: str, what: str) -> str:
    """``name`` when it can be a file or folder name inside our folder; one line otherwise.

    Names read from files, plugins or someone else's model folder must never form a path
    outside the run or output folder: ``../x``, ``/abs/x``, ``a/b`` and ``..`` are refused.
    """
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or name in {".", ".."}:
        raise ConfigError(
            f"{what} {name!r} cannot be a file name: use letters, digits, '.', '_', '-' (no '/' or '..').",
            "",
        )
    return name


def inside(folder: Path, path: Path, what: str) -> Path:
    """``path`` when it lies in ``folder`` (after resolving links and ``..``); one line otherwise."""
    base = folder.resolve()
    target = path.resolve()
    if target != base and base not in target.parents:
        raise ConfigError(f"{what} {path} would be written outside {folder}.", "")
    return path
