"""The best model: which metric decides, whether an evaluation improves on it, early stopping.

``--metric-for-best-model`` names ``METRIC`` (on the task's first eval split) or ``SPLIT/METRIC``;
by default the task's first metric. A metric with ``loss`` in its name is lower-is-better unless
``--greater-is-better`` says otherwise. model/ holds the best evaluation's weights; the trainer keeps
this record in the checkpoint so a resumed run compares with the same best.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from glue_cli.config import RunConfig
from glue_cli.errors import ConfigError


@dataclass
class Best:
    """The best evaluation so far and the early-stopping count."""

    metric: str
    split: str
    greater_is_better: bool
    value: float | None = None
    step: int = 0
    epoch: float = 0
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    # Evaluations since the last improvement (--early-stopping-patience counts them).
    evaluations_without_improvement: int = 0

    def improves(self, value: float | None) -> bool:
        """Strictly better than the best so far; NaN or None (a correlation of constant predictions) is the worst."""
        bad = value is None or math.isnan(value)
        if self.value is None:
            return True  # the first evaluation is the best so far, whatever it is
        if math.isnan(self.value):
            return not bad
        if bad:
            return False
        assert value is not None
        return value > self.value if self.greater_is_better else value < self.value

    def record(self) -> dict[str, Any]:
        """What metrics.json says of the best model."""
        return {"metric": self.metric, "split": self.split, "greater_is_better": self.greater_is_better,
                "value": self.value, "step": self.step, "epoch": self.epoch}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Best:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def best_metric(config: RunConfig, task_metrics: tuple[str, ...], eval_splits: tuple[str, ...]) -> Best:
    """An empty record for what ``--metric-for-best-model`` names; one line when it names nothing here."""
    name = config.metric_for_best_model or task_metrics[0]
    split, _, metric = name.rpartition("/")
    split = split or eval_splits[0]
    known = [*task_metrics, *(("combined_score",) if len(task_metrics) > 1 else ()), "loss"]
    if split not in eval_splits or metric not in known:
        raise ConfigError(
            f"--metric-for-best-model {name!r} is not a metric of this task.",
            f"Pass one of {', '.join(known)} (or SPLIT/METRIC with a split of {', '.join(eval_splits)}).",
        )
    greater = config.greater_is_better if config.greater_is_better is not None else "loss" not in metric
    return Best(metric, split, greater)
