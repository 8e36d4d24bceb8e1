"""RunConfig: every knob of a run, its default, and where a value comes from.

Precedence: command-line flag > environment variable ``GLUE_<NAME>`` > ``--config`` file
(JSON or TOML) > with ``--resume``, the run's own settings (its config.json) > the default below.
``to_toml`` writes a RunConfig as the TOML file ``--config`` reads back to the same settings
(``glue train --print-config``), and a run's config.json is a valid ``--config`` file too.
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
# --lr-scheduler values (glue_cli.training.optimization.Schedule computes each).
SCHEDULERS = ("linear", "cosine", "constant", "constant-with-warmup")
# A run's config.json says so (glue_cli.runs.rundir writes it).
RUN_MARKER = "glue_cli_run"
# Keys a run's config.json holds beside its settings: what the run found, not what it was asked.
DERIVED_KEYS = frozenset({RUN_MARKER, "model_path", "device", "world_size", "versions", "git_commit"})
# Settings of a run's config.json that are about that run directory, not how to train: a --config
# reading it starts a new run, and a --resume takes them from its own flags.
RUN_ONLY_KEYS = frozenset({"output_dir", "overwrite", "resume"})


@dataclass(frozen=True)
class RunConfig:
    task: str
    backend: str = "torch"
    model: str = DEFAULT_MODEL
    # Another folder or hub id for the tokenizer (the model's own by default).
    tokenizer: str | None = None
    # A hub id's branch, tag or commit (for --model and --tokenizer hub ids); None: the default branch.
    revision: str | None = None
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
    return setting_with_source(name)[0]


def setting_with_source(name: str, flag: Any = None) -> tuple[Any, str]:
    """``flag`` when given, else ``GLUE_<NAME>``, else the default; with where the value came from."""
    if flag is not None:
        return flag, flag_name(name)
    value = _from_env({f.name: f for f in fields(RunConfig)}[name])
    if value is _UNSET:
        return default_of(name), "the default"
    return value, f"GLUE_{name.upper()}"


# Flags whose name is not the field's name with dashes.
_FLAG_NAMES = {"learning_rate": "--learning-rate", "task": "TASK", "json_out": "--json"}


def flag_name(name: str) -> str:
    return _FLAG_NAMES.get(name, f"--{name.replace('_', '-')}")


_UNSET = object()


def _from_env(f: Field[Any]) -> Any:
    """``GLUE_<NAME>`` converted for field ``f``, or ``_UNSET`` when it is not set or not taken from there."""
    variable = f"GLUE_{f.name.upper()}"
    raw = os.environ.get(variable)
    if raw is None or f.name in _NOT_FROM_ENV:
        return _UNSET
    return _convert(f.name, raw, str(f.type), variable)


def _type_name(kind: str) -> str:
    base = kind.split(" ")[0]
    return {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}.get(base, base)


def _convert(name: str, raw: Any, kind: str, source: str) -> Any:
    """``raw`` (a string from the environment, or any JSON/TOML value) as the field's type, strictly:
    a boolean is no integer, a float no integer, a number no string (one line naming the source)."""
    where = f"{source}: {name}"
    if raw is None:
        if "None" in kind:
            return None  # an optional setting left unset
        raise ConfigError(f"{where} is null, not {_type_name(kind)}.", "Remove it to use the default.")
    if isinstance(raw, list) and kind.startswith("str"):
        if not all(isinstance(item, str | int) and not isinstance(item, bool) for item in raw):
            raise ConfigError(f"{where} = {raw!r}: a list of names must hold only strings.", "")
        return ",".join(str(item) for item in raw)  # a list in a config file: the flag's comma-separated form
    if not isinstance(raw, str):
        ok = {
            "bool": isinstance(raw, bool),
            "int": isinstance(raw, int) and not isinstance(raw, bool),
            "float": isinstance(raw, int | float) and not isinstance(raw, bool),
            "str": False,
        }.get(kind.split(" ")[0], False)
        if not ok:
            raise ConfigError(f"{where} = {raw!r} is not a valid {kind.split(' ')[0]}.", "")
        return float(raw) if kind.startswith("float") else raw
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
        raise ConfigError(f"{where} = {raw!r} is not a valid {kind.split(' ')[0]}.", "") from None
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
    if data.get(RUN_MARKER):  # a run's config.json: its settings, without what the run recorded about itself
        data = {k: v for k, v in data.items() if k not in DERIVED_KEYS | RUN_ONLY_KEYS}
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"Config file {path}: unknown setting(s) {', '.join(unknown)}.",
            f"Known settings: {', '.join(sorted(known))}.",
        )
    return data


def run_settings(run_dir: Path) -> tuple[dict[str, Any], Path]:
    """The settings a run in ``run_dir`` was trained with (its config.json), for ``--resume``; empty when
    there is no readable run there (the run directory checks say so, in one line)."""
    path = run_dir / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, path
    if not isinstance(data, dict):
        return {}, path
    known = {f.name for f in fields(RunConfig)} - RUN_ONLY_KEYS
    return {k: v for k, v in data.items() if k in known}, path


def resolve(flags: dict[str, Any], config_file: Path | None = None) -> RunConfig:
    """Build a RunConfig; ``flags`` holds only what was given on the command line (not None).

    Every value is checked (type, range, finiteness) before any work, and an error names the
    setting and where it came from: the flag, ``GLUE_<NAME>``, the config file or the resumed run.
    With ``--resume``, a setting given nowhere is the run's own (its config.json), so flags need not
    be retyped; one given that differs from the run's is judged by ``runs.rundir`` (one line).
    """
    from glue_cli.validation import check_settings

    from_file = read_config_file(config_file) if config_file else {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    _layer(flags, from_file, config_file, {}, None, values, sources)
    resume = values.get("resume")
    if resume and values.get("output_dir"):
        saved, saved_path = run_settings(Path(values["output_dir"]))
        _layer(flags, from_file, config_file, saved, saved_path, values, sources)
    if "task" not in values:
        if not any(values.get(f) for f in ("train_file", "validation_file", "test_file")):
            raise ConfigError("No task given.", "Pass it first, as in: glue train mrpc.")
        values["task"] = "custom"  # custom files without a name

    config = RunConfig(**{k: v for k, v in values.items() if v is not None or default_of(k) is None})
    check_settings(config, sources)
    return config


def _layer(
    flags: dict[str, Any], from_file: dict[str, Any], config_file: Path | None, saved: dict[str, Any],
    saved_path: Path | None, values: dict[str, Any], sources: dict[str, str],
) -> None:
    """Each setting from the first place that has it: flag, environment, config file, the resumed run."""
    for f in fields(RunConfig):
        if flags.get(f.name) is not None:
            values[f.name], sources[f.name] = flags[f.name], flag_name(f.name)
        elif (env := _from_env(f)) is not _UNSET:
            values[f.name], sources[f.name] = env, f"GLUE_{f.name.upper()}"
        elif f.name in from_file:
            values[f.name] = _convert(f.name, from_file[f.name], str(f.type), str(config_file))
            sources[f.name] = f"{config_file}: {f.name}"
        elif f.name in saved:
            values[f.name] = _convert(f.name, saved[f.name], str(f.type), str(saved_path))
            sources[f.name] = f"{saved_path}: {f.name}"


def to_toml(config: RunConfig) -> str:
    """``config`` as a TOML file of settings that ``--config`` reads back to the same RunConfig.

    Unset settings (None) are left out: TOML has no null, and a missing key means the default.
    """
    lines = []
    for f in fields(RunConfig):
        value = getattr(config, f.name)
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float):
            text = repr(value)
        else:
            text = json.dumps(str(value), ensure_ascii=False)  # a TOML basic string: JSON's escapes
        lines.append(f"{f.name} = {text}")
    return "\n".join(lines) + "\n"
