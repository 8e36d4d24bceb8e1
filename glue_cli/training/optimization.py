"""What every backend's optimizer shares: the learning-rate schedule and the weight-decay rule."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """The learning rate of every update, computed once here for every backend.

    ``kind`` is ``linear`` (warm-up from 0 to ``peak`` over ``warmup_steps``, then linear decay
    to 0, transformers' ``get_linear_schedule_with_warmup``), ``cosine`` (warm-up, then half a
    cosine down to 0, ``get_cosine_schedule_with_warmup``), ``constant`` (``peak`` from the first
    update, no warm-up, ``get_constant_schedule``) or ``constant-with-warmup``. The rate of update
    ``step`` (0-based) is ``rate(step)``; backends receive it with every step, so all three follow
    one schedule.
    """

    peak: float
    total_steps: int
    warmup_steps: int
    kind: str = "linear"

    @classmethod
    def from_ratio(cls, peak: float, total_steps: int, warmup_ratio: float, kind: str = "linear") -> Schedule:
        return cls(peak, total_steps, math.ceil(total_steps * warmup_ratio), kind)

    def rate(self, step: int) -> float:
        if self.kind == "constant":
            return self.peak
        if step < self.warmup_steps:
            return self.peak * step / max(1, self.warmup_steps)
        if self.kind == "constant-with-warmup":
            return self.peak
        decay_steps = max(1, self.total_steps - self.warmup_steps)
        if self.kind == "cosine":
            progress = (step - self.warmup_steps) / decay_steps
            return self.peak * max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
        return self.peak * max(0.0, (self.total_steps - step) / decay_steps)


def decays(parameter_name: str) -> bool:
    """Whether AdamW's weight decay applies: not to biases nor LayerNorm weights (as HF's Trainer)."""
    name = parameter_name.lower()
    return not ("bias" in name or "layernorm" in name or "layer_norm" in name)


@dataclass(frozen=True)
class OptimizerSettings:
    """AdamW with decoupled weight decay, and global-norm gradient clipping."""

    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
