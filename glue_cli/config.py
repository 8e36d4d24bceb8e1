"""RunConfig: every knob of a run, its default, and where a value comes from.

Precedence: command-line flag > environment variable ``GLUE_<NAME>`` > ``--config`` file
(JSON or TOML) > the default below.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import MISSING, Field, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from glue_cli.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# --lr-scheduler values (glue_cli.optimization.Schedule computes each).
SCHEDULERS = ("linear", "cosine", "constant", "constant-with-warmup")


@dataclass(frozen=True)
class RunConfig:
    task: str
    backend: str = "torch"
    model: str = DEFAULT_MODEL
    data_dir: str | None = None
    output_dir: str | None = None
    epochs: int = 3
    batch_size: int = 32
    eval_batch_size: int = 64
    learning_rate: float = 2e-5
    max_seq_length: int = 128
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 42
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    amp: bool = False
    precision: str | None = None
    xla: bool = False
    # Batches of similar lengths (seeded mega-batches sorted by length): far less padding.
    group_by_length: bool = True
    # Data parallel over this many local devices (backends that support it); None: all of them.
    devices: int | None = None
    overwrite: bool = False
    resume: bool = False
    # Custom files (a custom task); comma-separated lists stay strings, as on the command line.
    train_file: str | None = None
    validation_file: str | None = None
    test_file: str | None = None
    text_fields: str | None = None
    label_field: str | None = None
    labels: str | None = None
    do_predict: bool = False
    # Opt-in reporters (plugin names, comma-separated), e.g. "tensorboard"; console and history always run.
    report_to: str | None = None
    # Steps (optimizer updates), not just epochs. None: at each epoch's end (eval, save), every step (logging).
    eval_steps: int | None = None
    save_steps: int | None = None
    logging_steps: int | None = None
    # Train this many updates (overrides epochs; the schedule's total follows).
    max_steps: int | None = None
    # Best model: None = the task's first metric on its first eval split; greater_is_better None = by name.
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    early_stopping_patience: int | None = None
    # Optimisation: one update per K batches of batch_size rows (the same update as batch_size * K rows).
    gradient_accumulation_steps: int = 1
    lr_scheduler: str = "linear"
    # Warm-up updates; overrides warmup_ratio when given.
    warmup_steps: int | None = None
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    label_smoothing: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Knobs that are not about the run itself never come from the environment.
_NOT_FROM_ENV = {"task", "overwrite", "resume"}


def default_of(name: str) -> Any:
    f = {f.name: f for f in fields(RunConfig)}[name]
    return None if f.default is MISSING else f.default


def setting(name: str) -> Any:
    """An option left off where there is no --config file (glue eval, glue predict): GLUE_<NAME>, else the default."""
    value = _from_env({f.name: f for f in fields(RunConfig)}[name])
    return default_of(name) if value is _UNSET else value


_UNSET = object()


def _from_env(f: Field[Any]) -> Any:
    """``GLUE_<NAME>`` converted for field ``f``, or ``_UNSET`` when it is not set or not taken from there."""
    variable = f"GLUE_{f.name.upper()}"
    raw = os.environ.get(variable)
    if raw is None or f.name in _NOT_FROM_ENV:
        return _UNSET
    return _convert(f.name, raw, str(f.type), variable)


def _convert(name: str, raw: Any, kind: str, source: str) -> Any:
    if isinstance(raw, list) and kind.startswith("str"):
        return ",".join(str(item) for item in raw)  # a list in a config file: the flag's comma-separated form
    if raw is None or not isinstance(raw, str):
        return raw
    try:
        if "bool" in kind:
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError:
        raise ConfigError(
            f"{source}: {name} = {raw!r} is not a valid {kind.split(' ')[0]}.", ""
        ) from None
    return raw


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist.", "Check the --config path.")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Config file {path} is not valid: {exc}.", "") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a table of settings.", "")
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"Config file {path}: unknown setting(s) {', '.join(unknown)}.",
            f"Known settings: {', '.join(sorted(known))}.",
        )
    return data


def resolve(flags: dict[str, Any], config_file: Path | None = None) -> RunConfig:
    """Build a RunConfig; ``flags`` holds only what was given on the command line (not None)."""
    from_file = read_config_file(config_file) if config_file else {}
    values: dict[str, Any] = {}
    for f in fields(RunConfig):
        if flags.get(f.name) is not None:
            values[f.name] = flags[f.name]
        elif (env := _from_env(f)) is not _UNSET:
            values[f.name] = env
        elif f.name in from_file:
            values[f.name] = _convert(f.name, from_file[f.name], str(f.type), str(config_file))
    if "task" not in values:
        if not any(values.get(f) for f in ("train_file", "validation_file", "test_file")):
            raise ConfigError("No task given.", "Pass it first, as in: glue train mrpc.")
        values["task"] = "custom"  # custom files without a name

    config = RunConfig(**values)
    _check(config)
    return config


def _check(c: RunConfig) -> None:
    positive = {"epochs": c.epochs, "batch_size": c.batch_size, "max_seq_length": c.max_seq_length}
    for name, value in positive.items():
        if value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, not {value}.", "")
    if c.lr_scheduler not in SCHEDULERS:
        raise ConfigError(f"--lr-scheduler {c.lr_scheduler!r} is not one of {', '.join(SCHEDULERS)}.", "")
    if c.warmup_steps is not None and c.warmup_steps < 0:
        raise ConfigError(f"--warmup-steps must be at least 0, not {c.warmup_steps}.", "")
    for name in ("adam_beta1", "adam_beta2", "label_smoothing"):
        if not 0 <= getattr(c, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1), not {getattr(c, name)}.", "")
    if c.adam_epsilon <= 0:
        raise ConfigError(f"--adam-epsilon must be positive, not {c.adam_epsilon}.", "")
    if c.learning_rate <= 0:
        raise ConfigError(f"--learning-rate must be positive, not {c.learning_rate}.", "")
    if not 0 <= c.warmup_ratio < 1:
        raise ConfigError(f"--warmup-ratio must be in [0, 1), not {c.warmup_ratio}.", "")
    for name in ("max_train_samples", "max_eval_samples", "devices", "eval_steps", "save_steps",
                 "logging_steps", "max_steps", "early_stopping_patience", "gradient_accumulation_steps"):
        value = getattr(c, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, not {value}.", "")
    if c.lr_scheduler not in SCHEDULERS:
        raise ConfigError(f"--lr-scheduler {c.lr_scheduler!r} is not one of {', '.join(SCHEDULERS)}.", "")
    if c.warmup_steps is not None and c.warmup_steps < 0:
        raise ConfigError(f"--warmup-steps must be at least 0, not {c.warmup_steps}.", "")
    for name in ("adam_beta1", "adam_beta2", "label_smoothing"):
        if not 0 <= getattr(c, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1), not {getattr(c, name)}.", "")
    if c.adam_epsilon <= 0:
        raise ConfigError(f"--adam-epsilon must be positive, not {c.adam_epsilon}.", "")
