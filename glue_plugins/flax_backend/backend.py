"""JAX/Flax as a glue-cli backend: availability, devices, precisions. Imports jax only when used."""

from __future__ import annotations

from glue_cli.api import COMPILED_PADDING, BackendBase, Engine, ModelSpec, Padding, World, cpu_has_native_bf16


class FlaxBackend(BackendBase):
    name = "flax"
    framework = "flax"
    modules = ("jax", "flax", "optax")
    # jit, always on, compiles once per input shape: the core's length buckets, every batch full-sized.
    pad_multiple = COMPILED_PADDING.multiple
    fixed_batch_rows = True

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

    def xla_note(self, device: str | None = None) -> str | None:
        return "always on for flax: its steps are always jit-compiled (XLA); the flag changes nothing"

    def padding(self, xla: bool, device: str | None = None) -> Padding:
        return COMPILED_PADDING  # jit is always on: --xla changes nothing
    def data_parallel(self) -> str:
        import os

        local = self.devices()
        kind = local[0].split(":")[0]
        processes = os.environ.get("JAX_NUM_PROCESSES")
        if os.environ.get("JAX_COORDINATOR_ADDRESS") and processes:
            return f"{processes} processes (jax.distributed) x {len(local)} local {kind} device(s) each"
        return f"1 process x {len(local)} {kind} device(s) (batch split over them); --nproc N: N processes"

    def world(self) -> World:
        """With JAX_COORDINATOR_ADDRESS (and JAX_NUM_PROCESSES, JAX_PROCESS_ID): jax.distributed's processes."""
        from glue_plugins.flax_backend.world import join

        return join()

    def launch(self, processes: int, argv: list[str], env: dict[str, str | None]) -> int:
        """``glue train --nproc N``: N JAX processes on this machine, coordinated on a free local port."""
        from glue_plugins.flax_backend.world import launch

        return launch(processes, argv, env)

    def create(self, spec: ModelSpec) -> Engine:
        from glue_plugins.flax_backend.engine import FlaxEngine

        return FlaxEngine(spec)
