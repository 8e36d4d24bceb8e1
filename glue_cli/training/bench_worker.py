"""One cell of ``glue bench``, in a process of its own: train, then measure what the run did.

Run as ``python -m glue_cli.training.bench_worker SPEC.json``: the spec names the run's settings, the steps
to leave out of the timing and where to write the result (one JSON object). A fresh process per
cell keeps one framework's threads, caches and memory from colouring another's numbers, and makes
peak RSS and time to first step mean what they say.

The numbers come from the run's own events (recorded in-process, like history.jsonl's), and the
tokens of each step from the batch order, which is a pure function of the data and the seed.
"""

from __future__ import annotations

import importlib
import json
import math
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glue_cli.data.batching import batch_tokens, num_batches, train_order
from glue_cli.errors import GlueError
from glue_cli.plugins.hookspecs import hookimpl
from glue_cli.training import events
from glue_cli.training.backends import xla_note

# Matrix side for the peak measurement: big enough to reach a CPU's or a GPU's plateau.
CPU_MATMUL = 1024
GPU_MATMUL = 8192
PEAK_SECONDS = 0.5


@dataclass
class Recorder:
    """Every event of the run with the moment it arrived (perf_counter and wall clock)."""

    seen: list[tuple[events.Event, float, float]] = field(default_factory=list)

    @hookimpl
    def glue_on_event(self, event: events.Event) -> None:
        self.seen.append((event, time.perf_counter(), time.time()))

    def of(self, kind: type[events.Event]) -> list[tuple[Any, float, float]]:
        return [s for s in self.seen if isinstance(s[0], kind)]


@dataclass
class Window:
    """The timed steps: each step's wall time runs from the end of the previous step (or the
    epoch's start) to its own end, so batch assembly and the loop's own work count too."""

    steps: list[int]
    seconds: float
    examples: int


def timed_window(recorder: Recorder, skip_steps: int) -> Window:
    steps: list[int] = []
    seconds = 0.0
    examples = 0
    previous: float | None = None
    for event, at, _ in recorder.seen:
        if isinstance(event, events.EpochStarted):
            previous = at
        elif isinstance(event, events.StepEnded):
            if event.step > skip_steps and previous is not None:
                steps.append(event.step)
                seconds += at - previous
                examples += event.examples
            previous = at
    return Window(steps, seconds, examples)


def encoder_shape(model_path: str) -> tuple[int, int, int] | None:
    """(layers, hidden, intermediate) from a BERT-family config.json; None when it says otherwise."""
    path = Path(model_path) / "config.json"
    if not path.is_file():
        return None
    config = json.loads(path.read_text(encoding="utf-8"))
    try:
        return int(config["num_hidden_layers"]), int(config["hidden_size"]), int(config["intermediate_size"])
    except (KeyError, TypeError, ValueError):
        return None


def training_flops(lengths: np.ndarray, shape: tuple[int, int, int]) -> float:
    """Model FLOPs of one training step over examples of these real lengths (no padding counted).

    Per encoder layer and token, forward: 2 x (4 h^2 + 2 h i) for the projections and the
    feed-forward block, plus 4 s h for attention scores and their use over a sequence of s
    tokens; backward twice the forward. Embedding look-ups and the head are left out (tiny).
    """
    layers, h, i = shape
    s = np.asarray(lengths, dtype=np.float64)
    forward = layers * (2 * s * (4 * h * h + 2 * h * i) + 4 * s * s * h)
    return float(3 * forward.sum())


def module(name: str) -> Any:
    """A framework, imported only in the worker that uses it (and untyped: the core's type check
    runs where no framework is installed)."""
    return importlib.import_module(name)


def matmul_peak(framework: str, precision: str, device: str) -> float | None:
    """Measured FLOP/s of a square matrix product in ``precision`` on ``device``, with the cell's framework."""
    gpu = not device.startswith(("cpu", "mps"))
    n = GPU_MATMUL if gpu else CPU_MATMUL
    if framework == "torch":
        torch = module("torch")
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        where = torch.device(device if gpu else "cpu")
        a, b = (torch.randn(n, n, device=where).to(dtype) for _ in range(2))

        def step() -> None:
            c = a @ b
            if gpu:
                torch.cuda.synchronize(where)
            del c
    elif framework == "tf":
        tf = module("tensorflow")
        tf_dtype = {"fp32": tf.float32, "bf16": tf.bfloat16, "fp16": tf.float16}[precision]
        with tf.device("/GPU:0" if gpu else "/CPU:0"):
            x, y = (tf.cast(tf.random.normal((n, n)), tf_dtype) for _ in range(2))
        product = tf.function(tf.matmul)

        def step() -> None:
            product(x, y)[0, 0].numpy()
    elif framework == "flax":
        jax, jnp = module("jax"), module("jax.numpy")
        jax_dtype = {"fp32": jnp.float32, "bf16": jnp.bfloat16, "fp16": jnp.float16}[precision]
        target = jax.local_devices()[0]
        p, q = (jax.device_put(jnp.ones((n, n), jax_dtype), target) for _ in range(2))
        jitted = jax.jit(jnp.matmul)

        def step() -> None:
            jitted(p, q).block_until_ready()
    elif precision == "fp32":
        u, v = (np.random.default_rng(0).standard_normal((n, n), dtype=np.float32) for _ in range(2))

        def step() -> None:
            u @ v
    else:
        return None
    step()  # warm-up: kernels chosen, code compiled
    reps, start = 0, time.perf_counter()
    while reps < 2 or time.perf_counter() - start < PEAK_SECONDS:
        step()
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - start)


def gpu_peak_bytes(framework: str, device: str) -> int | None:
    """Peak device memory the framework allocated, on a GPU; None on a CPU or when it cannot say."""
    if device.startswith(("cpu", "mps")):
        return None
    try:
        if framework == "torch":
            torch = module("torch")
            return int(torch.cuda.max_memory_allocated(torch.device(device)))
        if framework == "flax":
            stats = module("jax").local_devices()[0].memory_stats() or {}
            return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None
        if framework == "tf":
            return int(module("tensorflow").config.experimental.get_memory_info("GPU:0")["peak"])
    except Exception:  # a framework without the query: the column stays empty, the cell stands
        return None
    return None


def amp_is_fp32(backend: Any) -> str | None:
    """Why an ``amp`` cell would repeat the fp32 one here (``--amp`` falls back to fp32), else None."""
    device = backend.devices()[0]
    if backend.amp_precision(device) == "fp32":
        return (f"--amp trains in fp32 on {device} (no native bf16 or fp16 here): "
                "the fp32 cell's numbers; --precision bf16 (mode bf16) forces bf16")
    return None


def xla_changes_nothing(backend: Any) -> str | None:
    """Why an ``xla`` cell would repeat the cell without it (the backend always compiles, or never
    does on this device), else None."""
    note = xla_note(backend, backend.devices()[0])
    return f"--xla: {note}: the cell without xla has the numbers" if note else None


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    from glue_cli.config import resolve
    from glue_cli.data import sources
    from glue_cli.plugins.manager import get_plugins
    from glue_cli.training import pipeline, trainer

    config = resolve(spec["flags"])
    backend = pipeline.open_backend(config.backend)
    if config.amp and config.precision is None and (reason := amp_is_fp32(backend)):
        return {"status": "skipped", "reason": reason}
    if config.xla and (reason := xla_changes_nothing(backend)):
        return {"status": "skipped", "reason": reason}
    recorder = Recorder()
    get_plugins().pm.register(recorder, name="glue-bench")
    summary = trainer.train(config, quiet=True)
    assert summary is not None  # a bench run is one process
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    # The lengths the run trained on, read again now (the tokenizer cache answers), not before
    # the run: time to first step is the user's, not the bench's.
    task, splits = sources.load(config.task, config.data_dir, trainer.run_files(config), ("train",))
    train_split = splits["train"].head(config.max_train_samples)
    tokenized = pipeline.tokenize(task, {"train": train_split}, backend, config.model, config.max_seq_length,
                                  tokenizer=config.tokenizer, revision=config.revision, xla=config.xla)
    lengths_train = tokenized.encoded["train"].lengths
    model_path = tokenized.model

    started = recorder.of(events.RunStarted)[0][0]
    device, precision = started.device, summary["precision"]
    first_step_at = recorder.of(events.StepEnded)[0][2]
    window = timed_window(recorder, spec["skip_steps"])
    if not window.steps or window.seconds <= 0:
        return {"status": "failed", "reason": f"no step after the first {spec['skip_steps']} to time"}

    steps_per_epoch = num_batches(len(lengths_train), config.batch_size)
    orders: dict[int, np.ndarray] = {}
    real = processed = 0
    flops = 0.0
    shape = encoder_shape(model_path)
    examples_by_step = {e.step: e.examples for e, _, _ in recorder.of(events.StepEnded)}
    for step in window.steps:
        epoch, position = divmod(step - 1, steps_per_epoch)
        if epoch not in orders:
            orders[epoch] = train_order(lengths_train, config.batch_size, config.seed, epoch, config.group_by_length)
        order = orders[epoch]
        rows = order[position * config.batch_size : (position + 1) * config.batch_size]
        [(examples, real_tokens, processed_tokens)] = batch_tokens(
            lengths_train, rows, config.batch_size, tokenized.padding.multiple, config.max_seq_length,
            tokenized.padding.fixed_rows,
        )
        if examples != examples_by_step[step]:
            raise RuntimeError(f"step {step}: the trainer fed {examples_by_step[step]} examples, "
                               f"the batch order says {examples}")
        real += real_tokens
        processed += processed_tokens
        if shape is not None:
            flops += training_flops(lengths_train[rows], shape)

    gpu_peak = gpu_peak_bytes(backend.framework, device)
    peak = matmul_peak(backend.framework, precision, device)
    model_flops = flops / window.seconds if shape is not None else None
    return {
        "status": "ok",
        "device": device,
        "precision": precision,
        "examples_per_second": round(window.examples / window.seconds, 3),
        "real_tokens_per_second": round(real / window.seconds, 1),
        "padding_efficiency": round(real / processed, 4),
        "time_to_first_step_s": round(first_step_at - spec["started_at"], 3),
        "compiles": recorder.of(events.RunEnded)[0][0].compiles,
        "peak_rss_mb": round(peak_rss / 2**20, 1),
        "gpu_peak_mb": None if gpu_peak is None else round(gpu_peak / 2**20, 1),
        "model_tflops_per_second": None if model_flops is None else round(model_flops / 1e12, 5),
        "matmul_peak_tflops": None if peak is None else round(peak / 1e12, 5),
        "mfu": None if model_flops is None or not peak else round(model_flops / peak, 5),
        "timed_steps": len(window.steps),
        "timed_examples": window.examples,
        "timed_seconds": round(window.seconds, 3),
        "eval": summary["eval"],
    }


def run(spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    try:
        result = measure(spec)
    except GlueError as exc:  # the user's setting cannot run here (fp16 on a CPU, ...): say why
        result = {"status": "skipped", "reason": str(exc)}
    except Exception as exc:
        result = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
    Path(spec["result"]).write_text(json.dumps(finite(result)), encoding="utf-8")
    return 0


def finite(value: Any) -> Any:
    """NaN and infinities (a metric of a constant prediction) as null: strict JSON for machines."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
