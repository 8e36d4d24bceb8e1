"""Kill a tiny training run at many points and resume it: a driver the kill tests run in a fresh process.

The driver imports the framework once and never runs it, then forks one child per run, so a
child costs a model load and a few steps, not an interpreter start. A child counts "probe
points" (every training event, every rename and folder removal of the atomic writes, each
checkpoint and evaluation) and sends itself SIGKILL (or SIGTERM) at the chosen one. Each
interrupted run is then resumed, as its error message advises (``--resume``, or
``--overwrite`` when no checkpoint was written), and its metrics.json compared with an
uninterrupted run's.

    python killpoints.py BACKEND MODEL WORKDIR POINTS [kill|term]  ->  JSON on stdout
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

ARGS = ("--max-train-samples", "16", "--max-eval-samples", "8", "--batch-size", "8", "--epochs", "2",
        "--learning-rate", "1e-3", "-q", "--json")
CHILD_TIMEOUT = 300


def child(backend: str, model: str, out: Path, extra: tuple[str, ...], kill_at: int | None, sig: int,
          count_file: Path | None) -> None:
    """Run ``glue train`` in this (forked) process, signalling itself at probe ``kill_at``.

    With SIGTERM only training steps are probes: the signal is meant for a run that is training."""
    from typer.testing import CliRunner

    import glue_cli.training.trainer as trainer
    from glue_cli.cli import build_app
    from glue_cli.plugins import manager as plugins
    from glue_cli.plugins.hookspecs import hookimpl
    from glue_cli.training import events
    from helpers import reset_plugins

    count = 0
    steps_only = sig == signal.SIGTERM

    def probe(step: bool = False) -> None:
        nonlocal count
        if steps_only and not step:
            return
        count += 1
        if count == kill_at:
            os.kill(os.getpid(), sig)

    def probed(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            probe()
            result = fn(*args, **kwargs)
            probe()
            return result
        return wrapper

    os.replace = probed(os.replace)
    shutil.rmtree = probed(shutil.rmtree)
    trainer.save_checkpoint = probed(trainer.save_checkpoint)
    trainer.evaluate_all = probed(trainer.evaluate_all)

    class Probe:
        @hookimpl
        def glue_on_event(self, event: events.Event) -> None:
            probe(isinstance(event, events.StepEnded))

    reset_plugins()
    plugins.get_plugins().pm.register(Probe(), name="probe")
    args = ["train", "mrpc", "--backend", backend, "--model", model, "--output-dir", str(out), *ARGS, *extra]
    result = CliRunner().invoke(build_app(), args)
    if count_file is not None:
        count_file.write_text(str(count))
    if result.exit_code not in (0, 2, 143):
        sys.stderr.write(f"child exit {result.exit_code}: {result.exception!r}\n{result.stderr}\n")
    os._exit(result.exit_code)


def run(backend: str, model: str, out: Path, extra: tuple[str, ...] = (), kill_at: int | None = None,
        sig: int = signal.SIGKILL, count_file: Path | None = None) -> int:
    """Fork a child running ``glue train``; its exit code, or minus the signal that ended it."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            child(backend, model, out, extra, kill_at, sig, count_file)
        except BaseException as exc:  # noqa: BLE001 - a child must never return into the driver
            sys.stderr.write(f"child crashed: {exc!r}\n")
        os._exit(99)
    deadline = time.monotonic() + CHILD_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -999
        time.sleep(0.05)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def weights(out: Path) -> str | None:
    """A digest of the final model's weights: tiny models often predict one class, so equal metrics
    alone would not show that a resumed run trained exactly like the uninterrupted one."""
    import hashlib

    from safetensors.numpy import load_file

    path = out / "model" / "model.safetensors"
    if not path.is_file():
        return None
    tensors = load_file(str(path))
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].tobytes())
    return digest.hexdigest()


def metrics(out: Path) -> dict[str, Any] | None:
    path = out / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def main() -> None:
    backend, model, workdir, points = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    mode = sys.argv[5] if len(sys.argv) > 5 else "kill"
    sig = signal.SIGTERM if mode == "term" else signal.SIGKILL
    from helpers import FRAMEWORK_MODULES

    # Only this backend's framework: transformers would otherwise import all three in every child.
    switches = {"torch": "USE_TORCH", "tf": "USE_TF", "flax": "USE_FLAX"}
    for name, switch in switches.items():
        os.environ[switch] = "1" if name == backend else "0"
    for module in FRAMEWORK_MODULES[backend]:  # imported once here, never run: each child forks with it
        __import__(module)
    import transformers
    from transformers.models.bert import modeling_bert  # noqa: F401 - the lazy imports a child would pay

    transformers.AutoTokenizer  # noqa: B018
    from glue_cli.cli import build_app
    from glue_cli.plugins.manager import get_backends, get_tasks

    build_app(), get_backends(), get_tasks()  # plugin modules, typer, pydantic: imported once, here
    getattr(transformers, {"torch": "AutoModelForSequenceClassification", "tf": "TFAutoModelForSequenceClassification",
                           "flax": "FlaxAutoModelForSequenceClassification"}[backend])

    count_file = workdir / "count"
    reference = workdir / "reference"
    # A first run fills the tokenization cache: counted on a cold cache, the probes of its writes would
    # shift every later kill point (and the last ones would never be reached).
    run(backend, model, workdir / "warm-up", sig=sig)
    started = time.monotonic()
    code = run(backend, model, reference, sig=sig, count_file=count_file)
    sys.stderr.write(f"reference run: {time.monotonic() - started:.1f} s\n")
    expected = metrics(reference)
    assert code == 0 and expected is not None, f"the reference run failed ({code})"
    total = int(count_file.read_text())
    chosen = sorted({max(1, round(total * k / (points + 1))) for k in range(1, points + 1)})
    results = []
    for at in chosen:
        out = workdir / f"cut-{at}"
        first = run(backend, model, out, kill_at=at, sig=sig)
        attempts = [first]
        code = run(backend, model, out, ("--resume",))
        attempts.append(code)
        if code == 2 and metrics(out) is None:  # killed before the first checkpoint: start again
            code = run(backend, model, out, ("--overwrite",))
            attempts.append(code)
        got = metrics(out)
        results.append({
            "at": at, "exits": attempts,
            "same_eval": got is not None and got["eval"] == expected["eval"],
            "same_weights": weights(out) == weights(reference),
            "steps": got["train"]["steps"] if got else None,
            "leftovers": sorted(p.name for p in out.glob(".*") if p.name != ".glue.lock"),
        })
    json.dump({"total_probes": total, "expected": expected["eval"], "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
