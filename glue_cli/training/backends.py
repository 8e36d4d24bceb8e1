"""The Backend protocol a backend plugin implements, its registry, and precision choice."""

from __future__ import annotations

import importlib.util
import os
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

import numpy as np

from glue_cli.data.batching import Batch, Padding
from glue_cli.errors import BackendUnavailableError, ConfigError
from glue_cli.plugins.installation import pip_install_extra
from glue_cli.plugins.registry import Registry
from glue_cli.training.optimization import OptimizerSettings

if TYPE_CHECKING:
    from glue_cli.training.world import World

PRECISIONS = ("fp32", "bf16", "fp16")
# The frameworks transformers loads models for: a backend's ``framework`` is one of these.
FRAMEWORK_SWITCHES = {"torch": "USE_TORCH", "tf": "USE_TF", "flax": "USE_FLAX"}
FRAMEWORKS = tuple(FRAMEWORK_SWITCHES)


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """Everything a backend needs to build a model to train or evaluate."""

    path: str
    num_labels: int
    regression: bool
    id2label: dict[int, str]
    precision: str = "fp32"
    xla: bool = False
    seed: int = 42
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    # How many local devices to split each batch over (data parallel); None: all visible.
    devices: int | None = None
    verbose: bool = False
    # Cross-entropy against (1 - s) one-hot + s / num_labels (classification only); see engine_base.batch_targets.
    label_smoothing: float = 0.0
    # The Batch arrays the model's forward gets, by transformers' names: its family's inputs
    # (DistilBERT and RoBERTa take no token_type_ids). EngineBase.model_inputs picks them.
    inputs: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")


@runtime_checkable
class Engine(Protocol):
    """One model held by a backend: trained step by step, asked for logits, saved.

    ``glue_cli.training.engine_base.EngineBase`` implements the saving and state files; subclass it.
    """

    # Where the model runs, as the user should read it ("cpu", "cuda:0", "cpu x2").
    device: str

    def train_step(self, batch: Batch, learning_rate: float) -> float:
        """One optimizer update on ``batch`` at ``learning_rate``; returns the batch's mean loss."""
        ...

    # Optional (plugin API 2.1): ``train_micro_batches(batches, learning_rate) -> float``, one update
    # on several micro-batches (--gradient-accumulation-steps); EngineBase's default trains them as one
    # batch, and the core does the same for an engine without it.

    def predict(self, batch: Batch) -> np.ndarray:
        """float32 logits ``[rows, num_labels]`` for every row of ``batch`` (filler rows included)."""
        ...

    def save_model(self, path: Path) -> None:
        """Write the model in the Hugging Face ``save_pretrained`` layout, safetensors weights."""
        ...

    def save_state(self, path: Path) -> None:
        """Write optimizer and RNG state into folder ``path`` (safetensors/JSON, never pickle)."""
        ...

    def load_state(self, path: Path) -> None:
        """Restore what ``save_state`` wrote."""
        ...

    def compile_count(self) -> int:
        """How many times a step was traced/compiled so far (0 when nothing compiles)."""
        ...


@runtime_checkable
class Backend(Protocol):
    """A training backend, registered through ``glue_register_backends``; ``BackendBase`` holds the defaults.

    ``framework`` is the framework its models run on, one of ``FRAMEWORKS`` (``torch``, ``tf``,
    ``flax``: what transformers can load); glue tells transformers to import only that one, so a
    backend with any other value is refused when it registers. ``install_hint`` says how to install
    what is missing (None: ``pip install "glue-cli[<framework>]"``).
    """

    name: str
    framework: str
    install_hint: str | None
    # Batches are padded to a multiple of this length (XLA/jit: few shapes).
    pad_multiple: int
    # Pad the last batch with filler rows to a full batch (one shape fewer to compile).
    fixed_batch_rows: bool

    def unavailable_reason(self) -> str | None:
        """None when usable here, else why not (framework missing...)."""
        ...

    def devices(self) -> list[str]:
        """Devices the framework sees, the default first."""
        ...

    def precisions(self, device: str | None = None) -> list[str]:
        """Precisions that run on ``device`` (default device when None)."""
        ...

    def amp_precision(self, device: str | None = None) -> str:
        """What ``--amp`` means on ``device``: fp16 on a GPU, bf16 on a CPU."""
        ...

    def create(self, spec: ModelSpec) -> Engine:
        """Load the model at ``spec.path`` with a fresh classification head when it has none."""
        ...


class BackendBase(ABC):
    """Defaults for a backend plugin: subclass, set ``name``, ``framework`` and ``modules``, write ``create``.

    Import the framework inside methods, never at module level: a backend whose framework is
    missing must still register and say so.
    """

    name: ClassVar[str]
    framework: ClassVar[str]
    # Import names that must be installed for the backend to run (checked without importing them).
    modules: ClassVar[tuple[str, ...]] = ()
    install_hint: ClassVar[str | None] = None
    pad_multiple: ClassVar[int] = 8
    fixed_batch_rows: ClassVar[bool] = False

    def unavailable_reason(self) -> str | None:
        missing = [m for m in self.modules if importlib.util.find_spec(m) is None]
        return f"{', '.join(missing)} not installed" if missing else None

    def devices(self) -> list[str]:
        return ["cpu"]

    def precisions(self, device: str | None = None) -> list[str]:
        return ["fp32"]

    def amp_precision(self, device: str | None = None) -> str:
        return "fp32"

    def xla_runs(self, device: str | None = None) -> bool:
        """Whether ``--xla`` compiles on ``device`` (default device when None). False where compiling
        is off (slower there): the core then builds the engine with ``ModelSpec.xla`` False and pads
        for eager steps; ``xla_note`` should say why. Default True."""
        return True

    def xla_note(self, device: str | None = None) -> str | None:
        """One line when ``--xla`` is not a plain on/off switch on ``device`` (steps always compiled,
        or compiling is off there, and why); None when the flag turns compilation on. The text up
        to its first colon is the short form `glue backends` shows in its table."""
        return None

    def padding(self, xla: bool, device: str | None = None) -> Padding:
        """How batches are shaped for an engine built with ``xla`` on ``device``: by default the
        class attributes ``pad_multiple`` and ``fixed_batch_rows`` whatever the mode."""
        return Padding(self.pad_multiple, self.fixed_batch_rows)

    def data_parallel(self) -> str:
        """How a run would spread over devices and processes here, in a few words (``glue backends``)."""
        return "1 process, 1 device"

    def world(self) -> World:
        """The data-parallel workers this process belongs to (its framework's process group, joined);
        one process by default. A backend may also define ``launch(processes, argv, env) -> int``
        to start workers itself (``glue train --nproc N``)."""
        from glue_cli.training.world import World  # at call time: world.py imports the run modules

        return World()

    @abstractmethod
    def create(self, spec: ModelSpec) -> Engine:
        """Load the model at ``spec.path`` with a fresh classification head when it has none."""


def compiles(backend: Backend, xla: bool, device: str | None = None) -> bool:
    """Whether the engine of a run with ``--xla`` = ``xla`` compiles on ``device`` (the default one
    when None): what the core puts in ``ModelSpec.xla`` and pads for. ``xla_runs(device)`` is optional
    (``BackendBase`` has it): a backend without it compiles whenever asked."""
    runs = getattr(backend, "xla_runs", None)
    return xla and (bool(runs(device)) if callable(runs) else True)


def batch_padding(backend: Backend, xla: bool) -> Padding:
    """The padding the backend's engine (``--xla`` or not, on its default device) is fed.

    ``padding(xla, device)`` is optional (``BackendBase`` has it): a backend without it is
    padded by its ``pad_multiple`` and ``fixed_batch_rows`` in every mode. It is asked about the
    engine the core builds: with ``xla`` False where the backend's ``xla_runs`` says compiling is off.
    """
    choose = getattr(backend, "padding", None)
    if callable(choose):
        chosen = choose(compiles(backend, xla))
        if isinstance(chosen, Padding):
            return chosen
    return Padding(backend.pad_multiple, backend.fixed_batch_rows)


def xla_note(backend: Backend, device: str | None = None) -> str | None:
    """The backend's ``xla_note(device)``, optional like ``padding``: for a backend without one, None,
    or a plain line where its ``xla_runs`` turns compiling off."""
    note = getattr(backend, "xla_note", None)
    text = note(device) if callable(note) else None
    if text is None and not compiles(backend, True, device):
        text = f"off on {device or backend.devices()[0]} for {backend.name}: its steps run without compiling"
    return text


def backend_names(backend: Backend) -> tuple[str, ...]:
    return (backend.name,)


def backend_registry() -> Registry[Backend]:
    return Registry("backend", backend_names)


def registration_problem(backend: Backend) -> str | None:
    """Why ``backend`` cannot be registered, or None. Checked before anything else uses it.

    A wrong ``framework`` would otherwise switch off every framework transformers knows
    (``only_framework``), and the run would end in transformers saying PyTorch is not installed.
    """
    framework = getattr(backend, "framework", None)
    if framework not in FRAMEWORKS:
        name = getattr(backend, "name", type(backend).__name__)
        return (
            f"backend {name!r} declares framework = {framework!r}; a backend's framework must be one of "
            f"{', '.join(FRAMEWORKS)} (the frameworks transformers loads models for)"
        )
    return None


def install_hint(backend: Backend) -> str:
    """A backend may say how to install its framework; else it names glue-cli's extra of that framework."""
    # getattr: a backend written against the protocol alone (no BackendBase) may leave it out.
    custom = getattr(backend, "install_hint", None)
    return custom or f"Install it with: {pip_install_extra(backend.framework)}"


def require_available(backend: Backend) -> None:
    reason = backend.unavailable_reason()
    if reason:
        raise BackendUnavailableError(
            f"The {backend.name} backend is not usable here: {reason}.", install_hint(backend)
        )


def only_framework(framework: str) -> None:
    """Tell transformers to import only ``framework``; it otherwise imports all three (seconds).

    Must run before transformers is first imported; a variable the user set wins.
    """
    for name, switch in FRAMEWORK_SWITCHES.items():
        os.environ.setdefault(switch, "1" if name == framework else "0")


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX); without, frameworks emulate it.

    Emulated bf16 matrix products run many times slower than fp32 (about 60x on an AVX2-only
    EPYC), so ``--amp`` must not pick bf16 there. Unknown (no /proc/cpuinfo): assume not.
    """
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def physical_cores(cpuinfo: Path = Path("/proc/cpuinfo")) -> int:
    """The physical cores this process may run on: its CPU affinity over the hyper-threads per core.

    A second hyper-thread per core shares the core's matrix units, so compute-bound frameworks
    run best with one thread per physical core. Unknown layout (no /proc/cpuinfo): every CPU usable.
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return usable
    logical, cores = 0, set()
    for block in text.split("\n\n"):
        fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in block.splitlines())}
        if "processor" in fields:
            logical += 1
            if "core id" in fields:
                cores.add((fields.get("physical id"), fields["core id"]))
    if not logical or not cores:
        return usable
    return max(1, usable // max(1, logical // len(cores)))


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def choose_precision(backend: Backend, precision: str | None, amp: bool, device: str | None) -> str:
    """``--precision`` says it exactly; ``--amp`` picks the fast one for the device; else fp32."""
    if precision is None:
        if not amp:
            return "fp32"
        chosen = backend.amp_precision(device)
        if chosen == "fp32":
            warn(
                f"--amp: {device or 'this device'} has no faster precision than fp32 for the "
                f"{backend.name} backend (no native bf16/fp16 here); training in fp32. "
                "--precision bf16 forces bf16."
            )
        return chosen
    if precision not in PRECISIONS:
        raise ConfigError(
            f"Unknown precision {precision!r}.", f"Use one of: {', '.join(PRECISIONS)}."
        )
    supported = backend.precisions(device)
    if precision not in supported:
        raise ConfigError(
            f"The {backend.name} backend cannot run {precision} on {device or 'this device'}.",
            f"Use one of: {', '.join(supported)} (or --amp to pick the fast one).",
        )
    return precision
