"""The settings a ``--resume`` continues with: the run's own config.json, and the few a flag may change.

A resumed run must be the run that was interrupted: its batches, schedule and model come from its
settings, so those are read from ``<run>/config.json`` instead of being retyped. A flag may change
only what leaves the updates done so far valid (train longer, evaluate/save/log more or less often,
stop earlier or later, where the data and reports are); any other setting that differs is one line
naming it (exit 2).
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from glue_cli.config import RunConfig, default_of
from glue_cli.errors import ConfigError

# What a --resume may change: more (or fewer) updates, when to evaluate/save/log, early stopping,
# and things that never touch the training (where the data and reports go, evaluation batches).
SAFE_TO_CHANGE = frozenset({
    "epochs", "max_steps", "eval_steps", "save_steps", "logging_steps", "early_stopping_patience",
    "eval_batch_size", "data_dir", "output_dir", "report_to", "do_predict", "overwrite", "resume",
})


def _same(name: str, ours: Any, saved: Any) -> bool:
    if name in {"task", "backend"} and isinstance(ours, str) and isinstance(saved, str):
        return ours.lower().replace("-", "").replace("_", "") == saved.lower().replace("-", "").replace("_", "")
    if isinstance(ours, float) or isinstance(saved, float):
        return ours is not None and saved is not None and float(ours) == float(saved)
    return bool(ours == saved)


def resumed_settings(config: RunConfig, given: set[str]) -> RunConfig:
    """``config`` with every setting not given taken from the run's config.json; a given one that
    differs from the saved value must be safe to change. ``given``: the names set on the command line
    (a value other than the default, from the environment or a --config file, counts as given too)."""
    if config.output_dir is None:
        return config
    path = Path(config.output_dir) / "config.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return config  # no run there (runs.prepare says so) or a run from before config.json
    if not isinstance(saved, dict):
        return config
    values: dict[str, Any] = {}
    for f in fields(RunConfig):
        if f.name not in saved or (f.name == "task" and "task" not in given):
            continue  # a custom task's name is made from its files
        ours, theirs = getattr(config, f.name), saved[f.name]
        explicit = f.name in given or ours != default_of(f.name)
        if not explicit:
            values[f.name] = theirs
        elif not _same(f.name, ours, theirs) and f.name not in SAFE_TO_CHANGE:
            flag = "--" + f.name.replace("_", "-")
            raise ConfigError(
                f"--resume: {flag} is {ours!r} but the run in {config.output_dir} was trained with {theirs!r}.",
                f"Drop {flag} to continue with the run's settings (only {', '.join(sorted(SAFE_TO_CHANGE))} "
                "may change), or start a new run.",
            )
    values.pop("task", None)  # the run's resolved name; the given one finds the same task
    return replace(config, **values)
