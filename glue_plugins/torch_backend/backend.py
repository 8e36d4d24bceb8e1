"""PyTorch as a glue-cli backend: availability, devices, precisions. Imports torch only when used."""

from __future__ import annotations

import importlib.util
from typing import Any

from glue_cli.api import ModelSpec


class TorchBackend:
    name = "torch"
    framework = "torch"
    extra = "torch"
    pad_multiple = 8
    fixed_batch_rows = False

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("torch") is None:
            return "PyTorch is not installed"
        return None

    def devices(self) -> list[str]:
        import torch

        found = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            found.append("mps")
        return [*found, "cpu"]

    def precisions(self, device: str | None = None) -> list[str]:
        import torch

        device = device or self.devices()[0]
        if device.startswith("cuda"):
            return ["fp32", "fp16", "bf16"] if torch.cuda.is_bf16_supported() else ["fp32", "fp16"]
        return ["fp32", "bf16"]

    def amp_precision(self, device: str | None = None) -> str:
        import torch

        device = device or self.devices()[0]
        if device.startswith("cuda"):
            return "fp16"  # fp16 with loss scaling is the fast path on CUDA
        # A CPU with AVX512-BF16/AMX runs bf16 several times faster than fp32; one without
        # (AVX2 only) emulates it, about 15x slower: there fp32 is the fast precision.
        return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"

    def create(self, spec: ModelSpec, total_steps: int) -> Any:
        from glue_plugins.torch_backend.engine import TorchEngine

        return TorchEngine(spec, total_steps, self.devices()[0])
