"""``glue bench``: training throughput of backends x precision modes, one fresh process per cell.

Every cell trains the same rows with the same settings through ``glue_cli.training.bench_worker`` and
leaves the first (compiling) epoch, or ``skip_steps`` steps, out of the timing, as the seed's
TF table timed the second epoch. This module imports no framework: the workers do.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from glue_cli.config import DEFAULT_MODEL
from glue_cli.data.batching import num_batches
from glue_cli.errors import ConfigError
from glue_cli.plugins.manager import get_backends
from glue_cli.training.backends import cpu_has_native_bf16, install_hint

DEFAULT_MODES = ("fp32", "amp", "xla", "amp+xla")
PRECISION_WORDS = ("fp32", "bf16", "fp16")
# Every field a cell that ran reports (--json); a cell that did not has status and reason instead.
CELL_FIELDS = (
    "device", "precision", "examples_per_second", "real_tokens_per_second", "padding_efficiency",
    "time_to_first_step_s", "compiles", "peak_rss_mb", "gpu_peak_mb", "model_tflops_per_second",
    "matmul_peak_tflops", "mfu", "timed_steps", "timed_examples", "timed_seconds", "eval",
)


@dataclass(frozen=True)
class BenchSettings:
    task: str = "mrpc"
    backends: tuple[str, ...] = ()
    modes: tuple[str, ...] = DEFAULT_MODES
    rows: int = 512
    eval_rows: int = 64
    epochs: int = 2
    # Steps left out of the timing; None: the whole first epoch (one step when training one epoch).
    skip_steps: int | None = None
    batch_size: int = 32
    max_seq_length: int = 128
    model: str = DEFAULT_MODEL
    data_dir: str | None = None
    seed: int = 42
    group_by_length: bool = True
    timeout: float | None = None


def mode_flags(mode: str) -> dict[str, Any]:
    """``amp+xla`` -> the RunConfig flags of that mode; words: fp32, bf16, fp16, amp, xla."""
    words = [w.strip().lower() for w in mode.split("+") if w.strip()]
    unknown = [w for w in words if w not in (*PRECISION_WORDS, "amp", "xla")]
    if not words or unknown:
        raise ConfigError(
            f"Unknown bench mode {mode!r}.",
            "A mode joins with + any of: fp32, bf16, fp16 (exact precision), amp, xla; e.g. amp+xla.",
        )
    precisions = [w for w in words if w in PRECISION_WORDS]
    if len(precisions) + ("amp" in words) > 1:
        raise ConfigError(f"Bench mode {mode!r} names more than one precision.", "Use one of fp32, bf16, fp16, amp.")
    flags: dict[str, Any] = {"xla": "xla" in words}
    if "amp" in words:
        flags["amp"] = True
    elif precisions and precisions[0] != "fp32":
        flags["precision"] = precisions[0]
    return flags


def split_names(values: list[str] | None) -> tuple[str, ...]:
    """``["torch,tf", "flax"]`` -> ``("torch", "tf", "flax")``: repeated and comma-separated both work."""
    return tuple(name.strip() for value in values or () for name in value.split(",") if name.strip())


def resolve_skip(settings: BenchSettings) -> int:
    steps_per_epoch = num_batches(settings.rows, settings.batch_size)
    skip = settings.skip_steps
    if skip is None:
        skip = steps_per_epoch if settings.epochs > 1 else 1
    if skip >= steps_per_epoch * settings.epochs:
        raise ConfigError(
            f"Nothing left to time: {settings.epochs} epoch(s) of {steps_per_epoch} steps, {skip} skipped.",
            "Train more epochs (--epochs) or skip fewer steps (--skip-steps).",
        )
    return skip


def check(settings: BenchSettings) -> None:
    for name, value in (("rows", settings.rows), ("epochs", settings.epochs), ("batch-size", settings.batch_size),
                        ("eval-rows", settings.eval_rows)):
        if value < 1:
            raise ConfigError(f"--{name} must be at least 1, not {value}.", "")
    if settings.skip_steps is not None and settings.skip_steps < 0:
        raise ConfigError(f"--skip-steps must be at least 0, not {settings.skip_steps}.", "")
    for mode in settings.modes:
        mode_flags(mode)


def machine() -> dict[str, Any]:
    """What the numbers were measured on: the CPU by name, its cores, native bf16, the GPUs."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpus: list[str] = []
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30, check=False).stdout
            gpus = [line.strip() for line in out.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            pass
    return {
        "cpu": cpu,
        "cpu_threads": os.cpu_count(),
        "usable_threads": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "native_bf16": cpu_has_native_bf16(),
        "gpus": gpus,
        "python": platform.python_version(),
    }


def cell_spec(settings: BenchSettings, backend: str, mode: str, folder: Path, skip: int) -> dict[str, Any]:
    flags = {
        "task": settings.task, "backend": backend, "model": settings.model, "data_dir": settings.data_dir,
        "output_dir": str(folder / "run"), "epochs": settings.epochs, "batch_size": settings.batch_size,
        "max_seq_length": settings.max_seq_length, "seed": settings.seed,
        "max_train_samples": settings.rows, "max_eval_samples": settings.eval_rows,
        "group_by_length": settings.group_by_length, "overwrite": True, **mode_flags(mode),
    }
    return {"flags": flags, "skip_steps": skip, "result": str(folder / "result.json")}


def run_cell(settings: BenchSettings, backend: str, mode: str, skip: int) -> dict[str, Any]:
    """Train one cell in a fresh Python process; its result, or why it did not run."""
    cell: dict[str, Any] = {"backend": backend, "mode": mode}
    reason = get_backends().get(backend).unavailable_reason()
    if reason:
        return {**cell, "status": "skipped", "reason": f"{reason}. {install_hint(get_backends().get(backend))}"}
    with tempfile.TemporaryDirectory(prefix="glue-bench-") as tmp:
        folder = Path(tmp)
        spec = cell_spec(settings, backend, mode, folder, skip)
        spec["started_at"] = time.time()
        (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        try:
            done = subprocess.run(
                [sys.executable, "-m", "glue_cli.training.bench_worker", str(folder / "spec.json")],
                capture_output=True, text=True, timeout=settings.timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            return {**cell, "status": "failed", "reason": f"timed out after {settings.timeout:g} s"}
        result_file = folder / "result.json"
        if not result_file.is_file():
            tail = [line for line in done.stderr.splitlines() if line.strip()][-1:] or ["no output"]
            return {**cell, "status": "failed", "reason": f"worker exited with {done.returncode}: {tail[0]}"}
        return {**cell, **json.loads(result_file.read_text(encoding="utf-8"))}


def run(settings: BenchSettings, progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Every backend x mode cell, in order; the machine, the settings and one result per cell."""
    check(settings)
    skip = resolve_skip(settings)
    registry = get_backends()
    backends = settings.backends or tuple(b.name for b in registry)
    for name in backends:
        registry.get(name)  # an unknown name fails here, with did-you-mean, before hours of cells
    cells = []
    for backend in backends:
        for mode in settings.modes:
            progress(f"{backend} {mode} ...")
            cell = run_cell(settings, registry.get(backend).name, mode, skip)
            progress(f"{backend} {mode}: {describe(cell)}")
            cells.append(cell)
    return {"machine": machine(), "settings": {**asdict(settings), "skip_steps": skip}, "cells": cells}


def describe(cell: dict[str, Any]) -> str:
    if cell["status"] != "ok":
        return f"{cell['status']}: {cell['reason']}"
    return f"{cell['examples_per_second']:.2f} examples/s"


def _num(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(report: dict[str, Any]) -> Table:
    """One row per cell; a cell that did not run shows its status here and its reason in ``notes``."""
    m, s = report["machine"], report["settings"]
    gpus = ", ".join(m["gpus"]) or "none"
    title = (f"{s['task']}: {s['rows']} rows x {s['epochs']} epochs, batch {s['batch_size']}, first "
             f"{s['skip_steps']} steps not timed. CPU: {m['cpu']} ({m['usable_threads']} threads), "
             f"native bf16: {'yes' if m['native_bf16'] else 'no'}. GPU: {gpus}.")
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True)
    for name in ("backend", "mode", "ex/s", "tok/s", "pad", "1st step", "compiles", "RSS MB", "GPU MB", "MFU",
                 "device"):
        t.add_column(name, justify="left" if name in {"backend", "mode", "device"} else "right", no_wrap=True)
    for c in report["cells"]:
        if c["status"] != "ok":
            t.add_row(c["backend"], c["mode"], c["status"], *["-"] * 8)
            continue
        mode = c["mode"] if c["mode"].split("+")[0] == c["precision"] else f"{c['mode']} ({c['precision']})"
        t.add_row(
            c["backend"], mode, _num(c["examples_per_second"], ".2f"),
            _num(c["real_tokens_per_second"], ".0f"), _num(c["padding_efficiency"], ".3f"),
            _num(c["time_to_first_step_s"], ".1f") + " s", str(c["compiles"]), _num(c["peak_rss_mb"], ".0f"),
            _num(c["gpu_peak_mb"], ".0f"), _num(c["mfu"], ".1%"), c["device"],
        )
    return t


def notes(report: dict[str, Any]) -> list[str]:
    """Why each cell that did not run did not: one line each, in full (a table cell would cut it)."""
    return [f"{c['backend']} {c['mode']}: {c['status']}: {c['reason']}" for c in report["cells"] if c["status"] != "ok"]
