"""JAX/Flax as a glue-cli backend: availability, devices, precisions. Imports jax only when used."""

from __future__ import annotations

import importlib.util
from typing import Any

from glue_cli.api import ModelSpec, cpu_has_native_bf16

FRAMEWORK_MODULES = ("jax", "flax", "optax")



class FlaxBackend:
    name = "flax"
    framework = "flax"
    extra = "flax"
    # jit compiles once per input shape: few length buckets, and every batch full-sized.
    pad_multiple = 16
    fixed_batch_rows = True

    def unavailable_reason(self) -> str | None:
        missing = [m for m in FRAMEWORK_MODULES if importlib.util.find_spec(m) is None]
        if missing:
            return f"{', '.join(missing)} not installed"
        return None

    def devices(self) -> list[str]:
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.local_devices()]

    def precisions(self, device: str | None = None) -> list[str]:
        # fp16 would need loss scaling, which this backend does not do: bf16 is its half precision.
        return ["fp32", "bf16"]

    def amp_precision(self, device: str | None = None) -> str:
        device = device or self.devices()[0]
        if device.startswith("cpu"):
            return "bf16" if cpu_has_native_bf16() else "fp32"
        return "bf16"  # GPUs and TPUs: bf16 needs no loss scaling and runs at full speed

    def create(self, spec: ModelSpec, total_steps: int) -> Any:
        from glue_plugins.flax_backend.engine import FlaxEngine

        return FlaxEngine(spec, total_steps)
