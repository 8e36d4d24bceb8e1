"""What every backend's optimizer shares: the learning-rate schedule and the weight-decay rule."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then linear decay to 0.

    The rate of update ``step`` (0-based) is ``rate(step)``, as in transformers'
    ``get_linear_schedule_with_warmup``. Backends receive the rate with every step, so
    all three follow one schedule, computed once, here.
    """

    peak: float
    total_steps: int
    warmup_steps: int

    @classmethod
    def from_ratio(cls, peak: float, total_steps: int, warmup_ratio: float) -> Schedule:
        return cls(peak, total_steps, math.ceil(total_steps * warmup_ratio))

    def rate(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.peak * step / max(1, self.warmup_steps)
        remaining = self.total_steps - step
        return self.peak * max(0.0, remaining / max(1, self.total_steps - self.warmup_steps))


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
