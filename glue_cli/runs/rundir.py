"""The run directory: its layout, creating it safely, and finding a model inside one."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glue_cli.errors import RunDirError
from glue_cli.runs.atomic import write_json
from glue_cli.training import checkpoint
from glue_cli.training.checkpoint import Position

# config.json of every run says so: only such a folder may be replaced by --overwrite.
RUN_MARKER = "glue_cli_run"
# flock(2)ed by the process that owns the run; the kernel releases it when that process dies.
LOCK_NAME = ".glue.lock"
# Where --overwrite moves the run it replaces, until the new run has finished.
REPLACED_SUFFIX = ".replaced"


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def history(self) -> Path:
        return self.path / "history.jsonl"

    @property
    def model(self) -> Path:
        return self.path / "model"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint"

    @property
    def predictions(self) -> Path:
        return self.path / "predictions"

    def write_config(self, data: dict[str, Any]) -> None:
        write_json(self.config, {RUN_MARKER: 1, **data})

    def write_metrics(self, data: dict[str, Any]) -> None:
        write_json(self.metrics, data)


def default_run_path(task: str, backend: str) -> Path:
    return Path("runs") / f"{task}-{backend}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare(path: Path, overwrite: bool, resume: bool) -> RunDir:
    """Check ``path`` can hold a run (see ``preflight``) and create it; no lock (``claim`` takes one)."""
    preflight(path, overwrite, resume)
    path.mkdir(parents=True, exist_ok=True)
    return RunDir(path)


def is_run(path: Path) -> bool:
    """Whether ``path`` is a glue-cli run directory: its config.json says so."""
    try:
        data = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    versions = data.get("versions")
    # Runs written before the marker: config.json records glue-cli's version and the task.
    return bool(data.get(RUN_MARKER)) or (isinstance(versions, dict) and "glue-cli" in versions and "task" in data)


def _entries(path: Path) -> list[Path]:
    return [p for p in path.iterdir() if p.name != LOCK_NAME] if path.is_dir() else []


def preflight(path: Path, overwrite: bool, resume: bool) -> None:
    """Every check on the output folder that needs no data: before any work, one line each."""
    if path.exists() and not path.is_dir():
        raise RunDirError(f"Output path {path} is a file.", "Pass another --output-dir.")
    existing = path.absolute()
    while not existing.exists():  # the root exists: this ends
        existing = existing.parent
    if not existing.is_dir():
        raise RunDirError(f"Cannot create {path}: {existing} is a file.", "Pass another --output-dir.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunDirError(f"Cannot write in {existing}: permission denied or a read-only file system.",
                          "Pass an --output-dir you can write to.")
    if resume:
        if not path.is_dir() or not is_run(path):
            raise RunDirError(f"Nothing to resume in {path}: it is not a glue-cli run.",
                              "Check --output-dir, or drop --resume to start a new run.")
        return
    if _entries(path):
        if not overwrite:
            raise RunDirError(
                f"Output directory {path} already exists and is not empty.",
                "Pass --overwrite to replace it, --resume to continue it, or another --output-dir.",
            )
        if not is_run(path):
            raise RunDirError(
                f"--overwrite refused: {path} is not a glue-cli run (no run config.json), so nothing in it is "
                "replaced.", "Pass another --output-dir.",
            )
        cwd = Path.cwd().resolve()
        if path.resolve() == cwd or path.resolve() in cwd.parents:
            raise RunDirError(f"--overwrite refused: {path} holds the current folder.", "Pass another --output-dir.")


def in_use(path: Path) -> bool:
    """Whether a glue process holds the run's lock (a run in progress): a shared lock tried for an instant."""
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class RunLock:
    """An exclusive ``flock`` on ``<run>/.glue.lock``: one process per run directory at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path / LOCK_NAME
        self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            owner = self.path.read_text(encoding="utf-8", errors="replace").strip() or "?"
            raise RunDirError(
                f"Run directory {path} is in use by another glue process (pid {owner}).",
                "Wait for it to finish, or pass another --output-dir.",
            ) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def recover(path: Path) -> None:
    """Tidy a run a kill interrupted (the caller holds its lock): a folder left as ``.X.old`` between
    the two renames of an atomic swap is put back, and temporary files and folders are removed."""
    for name in ("checkpoint", "model"):
        current, old = path / name, path / f".{name}.old"
        if old.is_dir():
            if current.exists():
                shutil.rmtree(old)
            else:
                os.replace(old, current)
    for stale in path.glob(".*.tmp"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    for sub in ("predictions", "eval_predictions"):
        for stale in (path / sub).glob(".*.tmp"):
            stale.unlink(missing_ok=True)


def finished_metrics(run: RunDir) -> dict[str, Any] | None:
    """metrics.json of a run that finished (written last, so its presence means done)."""
    try:
        data = json.loads(run.metrics.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("eval") else None


# Settings a resumed run may change: how long it trains (more epochs or steps: the schedule is recomputed
# for the new total from the step reached), when it evaluates, saves and logs, early stopping, and what
# decides neither the weights nor the metrics. Anything else would make it another run.
RESUME_MAY_CHANGE = {
    "output_dir", "overwrite", "resume", "eval_batch_size", "do_predict", "report_to",
    "epochs", "max_steps", "eval_steps", "save_steps", "logging_steps", "early_stopping_patience",
}
PATH_SETTINGS = {"data_dir", "train_file", "validation_file", "test_file"}


def config_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Settings of ``current`` that differ from the run's saved config and would change the run."""
    from glue_cli.plugins.registry import normalize

    changed = []
    for name, value in current.items():
        if name in RESUME_MAY_CHANGE or name not in saved:
            continue
        before = saved[name]
        if name == "precision" and value is None:
            continue  # the saved one is the precision chosen then; None asks for the same choice
        if name in {"task", "backend"} and isinstance(before, str) and isinstance(value, str):
            same = normalize(before) == normalize(value)
        elif name in PATH_SETTINGS and isinstance(before, str) and isinstance(value, str):
            same = Path(before).expanduser().resolve() == Path(value).expanduser().resolve()
        else:
            same = before == value
        if not same:
            changed.append(name)
    return changed


@dataclass
class Claim:
    """A run directory this process owns for the length of a ``with claim(...)`` block."""

    run: RunDir
    state: Position | None = None  # the checkpoint to resume from
    finished: dict[str, Any] | None = None  # metrics.json of a run --resume finds finished
    replaced: Path | None = None  # the run --overwrite moved aside
    created: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def claim(path: Path, config: dict[str, Any]) -> Iterator[Claim]:
    """Check, lock and set up the run directory ``path`` before any work; release it at the end.

    - ``--resume``: the run must exist; a kill's leftovers are tidied; a finished run is reported
      finished (``Claim.finished``) and left as it is; a run whose saved config differs in a
      setting that changes the run is refused, naming the setting.
    - ``--overwrite``: only a glue-cli run is replaced, and it is moved to ``.<name>.replaced``
      beside it, deleted only when the new run has finished (put back if the new run fails
      before its first checkpoint).
    - A run that fails before its first checkpoint removes the folder it created, so the same
      command can simply be run again.
    """
    preflight(path, bool(config.get("overwrite")), bool(config.get("resume")))
    result = Claim(RunDir(path))
    lock: RunLock | None = None
    try:
        if config.get("resume"):
            lock = RunLock(path)
            recover(path)
            _check_resume(result, config)
        else:
            if _entries(path):  # a glue-cli run, and --overwrite (preflight checked both)
                old_lock = RunLock(path)
                aside = path.with_name(f".{path.name}{REPLACED_SUFFIX}")
                if aside.exists():
                    if not is_run(aside):
                        old_lock.release()
                        raise RunDirError(f"--overwrite refused: {aside} is in the way.", "Move it away.")
                    shutil.rmtree(aside)
                os.replace(path, aside)
                old_lock.release()
                result.replaced = aside
            result.created = not path.exists()
            path.mkdir(parents=True, exist_ok=True)
            lock = RunLock(path)
            result.run.write_config({**config, "output_dir": str(path)})
        yield result
    except BaseException:
        if lock is not None and not config.get("resume") and not (result.run.checkpoint / "state.json").exists():
            _undo(result)
        raise
    else:
        if result.replaced is not None:
            shutil.rmtree(result.replaced, ignore_errors=True)
    finally:
        if lock is not None:
            lock.release()


def _undo(result: Claim) -> None:
    """A new run that failed before its first checkpoint: remove it, put back the run it replaced."""
    path = result.run.path
    if result.created or result.replaced is not None:
        shutil.rmtree(path, ignore_errors=True)
    else:  # an empty folder the user made: leave it empty
        for entry in _entries(path):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
    if result.replaced is not None and result.replaced.exists():
        os.replace(result.replaced, path)


def _check_resume(result: Claim, config: dict[str, Any]) -> None:
    run = result.run
    try:
        saved = json.loads(run.config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    saved = saved if isinstance(saved, dict) else {}
    changed = config_changes(saved, config)
    if changed:  # checked first: a finished run resumed with other settings is a mistake too
        from glue_cli.config import flag_name

        name = changed[0]
        raise RunDirError(
            f"--resume refused: {flag_name(name)} is {config[name]!r} but the run in {run.path} was trained "
            f"with {saved[name]!r}.",
            f"Drop {flag_name(name)} to continue with the run's settings (only how long it trains, when it "
            "evaluates, saves and logs, and where output goes may change), or start a new run.",
        )
    result.finished = finished_metrics(run)
    has_checkpoint = (run.checkpoint / "state.json").is_file()
    if result.finished is not None:
        # The trainer decides whether a finished run has anything left to do (more epochs or steps).
        result.state = checkpoint.read(run.checkpoint) if has_checkpoint else None
        return
    if not has_checkpoint:
        raise RunDirError(
            f"Nothing to resume in {run.path}: it has no checkpoint (stopped before the end of its first epoch).",
            "Pass --overwrite instead of --resume to start it again.",
        )
    result.state = checkpoint.read(run.checkpoint)


def model_dir(path: Path) -> Path:
    """The model folder of a run directory, or ``path`` itself when it is a model folder."""
    if (path / "model" / "config.json").is_file():
        return path / "model"
    if (path / "config.json").is_file() and not (path / "metrics.json").is_file() and not is_run(path):
        return path
    raise RunDirError(
        f"No model in {path}.", "Pass a run directory from glue train, or a model folder."
    )


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
