"""Training events, and the sink that hands each to every ``glue_on_event`` plugin."""

from __future__ import annotations

import sys
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import pluggy

from glue_cli.plugins.manager import call_order, trace
from glue_cli.plugins.reporting import is_opt_in


@dataclass
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass
class RunStarted(Event):
    kind: ClassVar[str] = "run_start"
    run_dir: str
    task: str
    backend: str
    device: str
    precision: str
    model: str
    epochs: int
    steps_per_epoch: int
    total_steps: int
    train_examples: int
    eval_examples: dict[str, int]
    start_step: int = 0
    quiet: bool = False
    # Per split: tokenized ids came from the on-disk cache (no tokenizer call).
    from_cache: dict[str, bool] = field(default_factory=dict)


@dataclass
class EpochStarted(Event):
    kind: ClassVar[str] = "epoch_start"
    epoch: int
    steps: int
    first_step: int


@dataclass
class StepEnded(Event):
    kind: ClassVar[str] = "step"
    step: int
    epoch: int
    loss: float
    learning_rate: float
    examples: int
    seconds: float


@dataclass
class Compiled(Event):
    """A backend traced/compiled a step for a new input shape."""

    kind: ClassVar[str] = "compile"
    step: int
    shape: list[int]
    compiles: int


@dataclass
class EvalEnded(Event):
    kind: ClassVar[str] = "eval"
    epoch: int
    split: str
    metrics: dict[str, float]
    examples: int
    seconds: float


@dataclass
class EpochEnded(Event):
    kind: ClassVar[str] = "epoch_end"
    epoch: int
    seconds: float
    train_loss: float
    examples: int
    examples_per_second: float


@dataclass
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint"
    path: str
    step: int
    epoch: int


@dataclass
class RunEnded(Event):
    kind: ClassVar[str] = "run_end"
    metrics: dict[str, dict[str, float]]
    train_seconds: float
    seconds: float
    compiles: int = 0
    epoch_seconds: list[float] = field(default_factory=list)


class EventSink:
    """Hands events to each ``glue_on_event`` implementation, in pluggy's order (``tryfirst``/``trylast``
    honoured); a failing one is warned about, then skipped.

    An opt-in reporter (``opt_in = True``, see ``glue_cli.plugins.reporting``) gets events only when it is
    in ``enabled`` (the plugin names ``--report-to`` turned on).
    """

    def __init__(self, pm: pluggy.PluginManager, enabled: Collection[str] = ()) -> None:
        self._pm = pm
        self._enabled = frozenset(enabled)
        self._broken: set[str] = set()

    def __call__(self, event: Event) -> None:
        for impl in call_order(self._pm, "glue_on_event"):
            if impl.plugin_name in self._broken:
                continue
            if is_opt_in(impl.plugin) and impl.plugin_name not in self._enabled:
                continue
            trace(impl.plugin_name, "glue_on_event", f"event={event.kind}")
            try:
                impl.function(event=event)
            except Exception as exc:  # a reporter's bug must not kill a training run
                self._broken.add(impl.plugin_name)
                print(
                    f"warning: plugin {impl.plugin_name!r} failed on {event.kind} "
                    f"({type(exc).__name__}: {exc}); it gets no more events this run.",
                    file=sys.stderr,
                )
