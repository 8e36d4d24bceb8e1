"""TensorFlow as a glue-cli backend: availability, devices, precisions. Imports TF only when used."""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

# One cpuinfo check serves every backend; the tf name stays importable for its callers.
from glue_cli.api import COMPILED_PADDING, BackendBase, ConfigError, Engine, ModelSpec, Padding, World
from glue_cli.api import cpu_has_native_bf16 as native_bf16

# XLA is off for the tf backend on a CPU (slower there, see TFBackend.xla_note) unless this is "1".
XLA_ON_CPU = "GLUE_TF_XLA_ON_CPU"
# C++ log levels: 0 all, 1 no INFO, 2 no WARNING (oneDNN notices, CUDA-not-found, XLA chatter).
QUIET_CPP_LOG_LEVEL = "2"
# The user's own setting, read when glue loads its plugins: importing JAX (the flax backend, listed
# before this one) sets the variable to 1, which must not count as the user asking for TF's logs.
USER_CPP_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")


def load_tensorflow() -> ModuleType:
    """Import TensorFlow with its start-up noise kept off the user's screen.

    ``TF_CPP_MIN_LOG_LEVEL`` is read once, when TF loads its C++ core, so it is set
    here, before the import; a value the user set wins. Some lines (CUDA not found) are
    written to stderr before TF's logging is even set up, whatever the level: stderr is
    muted during the import unless the user asked for TF's logs (the variable set to 0 or 1).
    """
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        return tf
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = USER_CPP_LOG_LEVEL or QUIET_CPP_LOG_LEVEL
    with muted_stderr(enabled=quiet_wanted()):
        import tensorflow as tf
        import tf_keras  # noqa: F401
    quiet_python_loggers(True)
    return tf


def quiet_wanted() -> bool:
    """False when the user set TF_CPP_MIN_LOG_LEVEL to 0 or 1: they want TF's own lines."""
    level = USER_CPP_LOG_LEVEL or QUIET_CPP_LOG_LEVEL
    return not level.strip().isdigit() or int(level) >= int(QUIET_CPP_LOG_LEVEL)


def quiet_python_loggers(quiet: bool) -> None:
    """TF's retracing warnings and absl's notices: errors only, unless --verbose."""
    level = logging.ERROR if quiet else logging.INFO
    logging.getLogger("tensorflow").setLevel(level)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR if quiet else absl_logging.INFO)
    except ImportError:
        pass


@contextmanager
def muted_stderr(enabled: bool = True) -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for a while: TF's C++ code writes there directly."""
    saved = os.dup(2) if enabled else None
    try:
        if saved is not None:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        yield
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)


@functools.cache
def physical_gpus() -> list[Any]:
    """TF's GPUs. The first query loads CUDA, which reports on stderr when there is no GPU."""
    tf = load_tensorflow()
    with muted_stderr(enabled=quiet_wanted()):
        return tf.config.list_physical_devices("GPU")


class TFBackend(BackendBase):
    name = "tf"
    framework = "tf"
    modules = ("tensorflow", "tf_keras")
    # Without XLA one graph with open shapes runs every batch: padded to its longest row. XLA
    # compiles once per input shape: the core's length buckets and full batches (see padding()).
    pad_multiple = 1
    fixed_batch_rows = False

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("tensorflow") is None:
            return "TensorFlow is not installed"
        if importlib.util.find_spec("tf_keras") is None:
            return "tf-keras is not installed (transformers' TF models are tf_keras models)"
        return None

    def devices(self) -> list[str]:
        return [*(f"gpu:{i}" for i in range(len(physical_gpus()))), "cpu"]

    def precisions(self, device: str | None = None) -> list[str]:
        device = device or self.devices()[0]
        if device.startswith("gpu"):
            return ["fp32", "fp16", "bf16"] if gpu_runs_bf16(device) else ["fp32", "fp16"]
        return ["fp32", "bf16"]

    def amp_precision(self, device: str | None = None) -> str:
        device = device or self.devices()[0]
        if device.startswith("gpu"):
            return "fp16"  # mixed_float16 with loss scaling: the fast path on NVIDIA GPUs
        return "bf16" if native_bf16() else "fp32"

    def xla_runs(self, device: str | None = None) -> bool:
        """XLA on GPUs; on a CPU only when XLA_ON_CPU is set to 1 (see ``xla_note``)."""
        device = device or self.devices()[0]
        return not device.startswith("cpu") or os.environ.get(XLA_ON_CPU) == "1"

    def xla_note(self, device: str | None = None) -> str | None:
        if self.xla_runs(device):
            return None
        return (f"off on a CPU for tf (plain TF graphs run): XLA's CPU steps measured 0.89x the speed of TF's "
                f"oneDNN kernels, plus a compile per length bucket; {XLA_ON_CPU}=1 forces it")

    def padding(self, xla: bool, device: str | None = None) -> Padding:
        return COMPILED_PADDING if xla else Padding(self.pad_multiple, self.fixed_batch_rows)

    def data_parallel(self) -> str:
        from glue_plugins.tf_backend.world import CONFIG_VARIABLE, cluster_place

        if raw := os.environ.get(CONFIG_VARIABLE, "").strip():
            try:
                size = cluster_place(raw)[1]
            except ConfigError:
                size = 1
            if size > 1:
                return f"{size} processes (MultiWorkerMirroredStrategy, {CONFIG_VARIABLE})"
        gpus = len(physical_gpus())
        kind = f"{gpus} GPUs" if gpus else "logical CPU devices"
        return f"1 process on {self.devices()[0]}; --devices N: MirroredStrategy ({kind}); --nproc N: N processes"

    def world(self) -> World:
        """With a TF_CONFIG naming several workers: their MultiWorkerMirroredStrategy, joined."""
        from glue_plugins.tf_backend.world import join

        return join()

    def launch(self, processes: int, argv: list[str], env: dict[str, str | None]) -> int:
        """``glue train --nproc N``: N TF workers on this machine, TF_CONFIG on free local ports."""
        from glue_plugins.tf_backend.world import launch

        return launch(processes, argv, env)

    def create(self, spec: ModelSpec) -> Engine:
        load_tensorflow()
        quiet_python_loggers(not spec.verbose)
        from glue_plugins.tf_backend.engine import TFEngine
        from glue_plugins.tf_backend.world import strategy as joined

        device = self.devices()[0]
        strategy = joined()
        if strategy is not None:
            if spec.devices not in (None, len(strategy.extended.worker_devices)):
                raise ConfigError(
                    f"--devices {spec.devices} with several tf workers: each worker trains on all its GPUs, or "
                    "its CPU.", "Leave --devices out; choose each worker's GPUs with CUDA_VISIBLE_DEVICES.")
            return TFEngine(spec, device, strategy)
        if (spec.devices or 1) > 1:
            strategy = mirrored_strategy(spec.devices or 1)
            return TFEngine(spec, f"{device.split(':')[0]} x{spec.devices}", strategy)
        return TFEngine(spec, device)


def gpu_runs_bf16(device: str) -> bool:
    """bf16 tensor cores arrived with compute capability 8.0 (Ampere)."""
    tf = load_tensorflow()
    gpus = physical_gpus()
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= len(gpus):
        return False
    capability = tf.config.experimental.get_device_details(gpus[index]).get("compute_capability")
    return bool(capability and capability[0] >= 8)


@functools.cache  # logical devices are set once, before TF starts: every engine of the process shares them
def mirrored_strategy(count: int) -> Any:
    """``MirroredStrategy`` over ``count`` local devices: the first GPUs, or (no GPU) ``count`` logical
    CPU devices, which TF must be told about before it initializes (testable on any CPU; no faster)."""
    tf = load_tensorflow()
    gpus = physical_gpus()
    if gpus:
        if count > len(gpus):
            raise ConfigError(f"--devices {count}: {len(gpus)} GPU(s) are visible here.",
                              f"Use --devices between 1 and {len(gpus)}.")
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(count)])
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:  # TF already started in this process with other devices
        raise ConfigError(
            f"--devices {count}: TensorFlow already started in this process with "
            f"{len(tf.config.list_logical_devices('CPU'))} CPU device(s).",
            "Run the tf backend with --devices in a process of its own (as `glue train` does).",
        ) from None
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(count)])
