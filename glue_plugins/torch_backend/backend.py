"""PyTorch as a glue-cli backend: availability, devices, precisions. Imports torch only when used."""

from __future__ import annotations

import os

from glue_cli.api import COMPILED_PADDING, BackendBase, Engine, ModelSpec, Padding, World, cpu_has_native_bf16

# torch.compile is off for the torch backend on a CPU (slower there, see TorchBackend.xla_note) unless this is "1".
COMPILE_ON_CPU = "GLUE_TORCH_COMPILE_ON_CPU"


class TorchBackend(BackendBase):
    name = "torch"
    framework = "torch"
    modules = ("torch",)
    pad_multiple = 1  # eager on a CPU; padding() says what --xla and CUDA get
    fixed_batch_rows = False

    def unavailable_reason(self) -> str | None:
        return "PyTorch is not installed" if super().unavailable_reason() else None

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
        device = device or self.devices()[0]
        if device.startswith("cuda"):
            return "fp16"  # fp16 with loss scaling is the fast path on CUDA
        # PyTorch's own check says yes on AVX-512 CPUs without bf16 instructions, where bf16 is
        # emulated many times slower than fp32: the core reads the CPU's flags instead.
        return "bf16" if cpu_has_native_bf16() else "fp32"

    def xla_runs(self, device: str | None = None) -> bool:
        """torch.compile on GPUs; on a CPU only when COMPILE_ON_CPU is set to 1 (see ``xla_note``)."""
        device = device or self.devices()[0]
        return not device.startswith("cpu") or os.environ.get(COMPILE_ON_CPU) == "1"

    def xla_note(self, device: str | None = None) -> str | None:
        if self.xla_runs(device):
            return None
        return (f"off on a CPU for torch (eager steps run): torch.compile's CPU steps measured 0.84x the speed of "
                f"eager torch in fp32 and 0.89x in bf16, plus a compile per length bucket; {COMPILE_ON_CPU}=1 "
                "forces it")

    def padding(self, xla: bool, device: str | None = None) -> Padding:
        """Eager torch runs any shape at no cost: each batch to its longest row (a multiple of 8 on
        CUDA, for tensor cores). torch.compile compiles per shape: the core's length buckets."""
        if xla:
            return COMPILED_PADDING
        device = device or self.devices()[0]
        return Padding(multiple=8 if device.startswith("cuda") else 1)

    def data_parallel(self) -> str:
        import os

        import torch

        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if launched > 1:
            return f"{launched} DDP processes (torchrun), one device each"
        gpus = torch.cuda.device_count()
        return f"1 process on {self.devices()[0]}; --nproc N: N DDP processes" + (f" (this machine: {gpus} GPUs)"
                                                                                   if gpus else "")

    def world(self) -> World:
        """Under torchrun (WORLD_SIZE > 1): its process group, DistributedDataParallel training."""
        from glue_plugins.torch_backend.world import join

        return join()

    def launch(self, processes: int, argv: list[str], env: dict[str, str | None]) -> int:
        """``glue train --nproc N``: ``python -m glue_cli ARGV`` as N workers through torchrun."""
        from glue_plugins.torch_backend.world import launch

        return launch(processes, argv, env)

    def create(self, spec: ModelSpec) -> Engine:
        from glue_plugins.torch_backend.engine import TorchEngine
        from glue_plugins.torch_backend.world import distributed, local_device

        return TorchEngine(spec, local_device() if distributed() else self.devices()[0])
