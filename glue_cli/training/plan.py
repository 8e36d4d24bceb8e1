"""How many optimizer updates a run makes, and when it evaluates, checkpoints and logs.

A step is one optimizer update: ``batch_size x gradient_accumulation_steps`` rows. ``--max-steps``
overrides ``--epochs`` (the run ends mid-epoch when it says so); ``--eval-steps``/``--save-steps``
default to each epoch's end, ``--logging-steps`` to every update. The run's last update always
evaluates and saves, so model/ and metrics.json describe where it ended.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from glue_cli.config import RunConfig
from glue_cli.data.batching import num_batches


@dataclass(frozen=True)
class Plan:
    steps_per_epoch: int
    total_steps: int
    epochs: int
    update_rows: int  # rows per update: batch_size x gradient_accumulation_steps
    warmup_steps: int
    eval_steps: int | None
    save_steps: int | None
    logging_steps: int

    @classmethod
    def of(cls, config: RunConfig, train_rows: int) -> Plan:
        update_rows = config.batch_size * config.gradient_accumulation_steps
        per_epoch = num_batches(train_rows, update_rows)
        return cls.from_steps(config, per_epoch)

    @classmethod
    def from_steps(cls, config: RunConfig, per_epoch: int) -> Plan:
        """The plan of a run whose epoch is ``per_epoch`` updates (known from a checkpoint without the data)."""
        total = config.max_steps or per_epoch * config.epochs
        warmup = config.warmup_steps if config.warmup_steps is not None else math.ceil(total * config.warmup_ratio)
        return cls(per_epoch, total, -(-total // per_epoch), config.batch_size * config.gradient_accumulation_steps,
                   warmup, config.eval_steps, config.save_steps, config.logging_steps or 1)

    def due(self, every: int | None, step: int) -> bool:
        """At ``step``: every ``every`` updates, else at each epoch's end; always at the run's last update."""
        if step >= self.total_steps:
            return True
        return step % every == 0 if every else step % self.steps_per_epoch == 0

    def epoch_end(self, epoch: int) -> int:
        """The step that ends (0-based) ``epoch``: its last batch, or the run's last update."""
        return min((epoch + 1) * self.steps_per_epoch, self.total_steps)
