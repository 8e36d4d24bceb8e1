"""``glue runs``: the run directories under a folder, read back from what each run wrote.

A run directory (see ``runs.py``) holds ``config.json`` (the resolved settings), ``history.jsonl``
(one line per training event, appended to on ``--resume``) and, once finished, ``metrics.json``.
Nothing here imports a framework: listing a hundred runs takes as long as reading their files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from glue_cli.display import listing_table
from glue_cli.errors import RunDirError
from glue_cli.runs.rundir import RunDir, in_use

# Run directories sit at most this deep below the folder listed (runs/<sweep>/<run>).
MAX_DEPTH = 3


@dataclass
class History:
    """The events of ``history.jsonl``, a resumed run's repeated steps kept once (the last time)."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    starts: list[dict[str, Any]] = field(default_factory=list)
    ends: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    @property
    def steps_per_epoch(self) -> int | None:
        return int(self.starts[-1]["steps_per_epoch"]) if self.starts else None


def read_history(path: Path) -> History:
    """Parse ``history.jsonl``; a torn last line (a run killed mid-write) is skipped."""
    history = History()
    if not path.is_file():
        return history
    by_step: dict[int, dict[str, Any]] = {}
    by_eval: dict[tuple[int, str], dict[str, Any]] = {}
    by_epoch: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind == "step":
            by_step[int(event["step"])] = event
        elif kind == "eval":
            by_eval[(int(event["epoch"]), str(event["split"]))] = event
        elif kind == "epoch_end":
            by_epoch[int(event["epoch"])] = event
        elif kind == "run_start":
            history.starts.append(event)
        elif kind == "run_end":
            history.ends.append(event)
        elif kind == "checkpoint":
            history.checkpoints.append(event)
    history.steps = [by_step[s] for s in sorted(by_step)]
    history.evals = [by_eval[k] for k in sorted(by_eval)]
    history.epochs = [by_epoch[e] for e in sorted(by_epoch)]
    return history


@dataclass
class RunInfo:
    """One run directory, as ``glue runs`` shows it."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any] | None
    history: History

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def status(self) -> str:
        """running (a glue process holds it now); finished; resumable (a checkpoint to continue from);
        interrupted (nothing to resume)."""
        if in_use(self.path):
            return "running"
        started = self.history.starts[-1]["time"] if self.history.starts else None
        ended = self.history.ends[-1]["time"] if self.history.ends else None
        if ended is not None and (started is None or ended >= started):
            return "finished"
        if not self.history.starts and self.metrics is not None:
            return "finished"
        if (RunDir(self.path).checkpoint / "state.json").is_file():
            return "resumable"
        return "interrupted"

    @property
    def epochs_done(self) -> int:
        state = RunDir(self.path).checkpoint / "state.json"
        try:
            return int(json.loads(state.read_text(encoding="utf-8"))["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            return max((int(e["epoch"]) for e in self.history.epochs), default=0)

    @property
    def main_metric(self) -> tuple[str, str] | None:
        """(split, metric) the run is judged by: the first metric of its first evaluation split."""
        source = self.metrics.get("eval") if self.metrics else None
        if not source and self.history.evals:
            first = self.history.evals[0]
            return str(first["split"]), next(iter(first["metrics"]), "")
        if source:
            split = next(iter(source))
            return split, next(iter(source[split]), "")
        return None

    def best(self) -> dict[str, Any] | None:
        """The best value of the main metric over the run's evaluations (every GLUE metric grows)."""
        main = self.main_metric
        if main is None:
            return None
        split, metric = main
        seen = [(e["metrics"][metric], int(e["epoch"])) for e in self.history.evals
                if e["split"] == split and metric in e["metrics"]]
        if not seen and self.metrics:
            value = self.metrics["eval"][split].get(metric)
            return None if value is None else {"split": split, "metric": metric, "value": value, "epoch": None}
        if not seen:
            return None
        value, epoch = max(seen, key=lambda pair: pair[0])
        return {"split": split, "metric": metric, "value": value, "epoch": epoch}

    def train_seconds(self) -> float | None:
        if self.metrics and "train" in self.metrics:
            return float(self.metrics["train"]["seconds"])
        if self.history.epochs:
            return sum(float(e["seconds"]) for e in self.history.epochs)
        return None

    def examples_per_second(self) -> float | None:
        if self.metrics and "train" in self.metrics:
            return float(self.metrics["train"]["examples_per_second"])
        seconds = self.train_seconds()
        examples = sum(int(e["examples"]) for e in self.history.epochs)
        return examples / seconds if seconds else None

    def started(self) -> float | None:
        return float(self.history.starts[0]["time"]) if self.history.starts else None

    def to_dict(self) -> dict[str, Any]:
        c = self.config
        return {
            "name": self.name, "path": str(self.path), "task": c.get("task"), "backend": c.get("backend"),
            "precision": c.get("precision"), "model": c.get("model"), "learning_rate": c.get("learning_rate"),
            "batch_size": c.get("batch_size"), "seed": c.get("seed"),
            "epochs": c.get("epochs"), "epochs_done": self.epochs_done, "best": self.best(),
            "eval": (self.metrics or {}).get("eval"), "train_seconds": self.train_seconds(),
            "examples_per_second": self.examples_per_second(), "status": self.status,
            "started": self.started(),
        }


def is_run_dir(path: Path) -> bool:
    """A folder glue train wrote: its config beside a history, metrics or checkpoint (a model folder's
    config.json has none of these)."""
    run = RunDir(path)
    return run.config.is_file() and (run.history.is_file() or run.metrics.is_file() or run.checkpoint.is_dir())


def read_run(path: Path) -> RunInfo:
    run = RunDir(path)
    return RunInfo(path, _read_json(run.config) or {}, _read_json(run.metrics), read_history(run.history))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find_runs(folder: Path) -> list[RunInfo]:
    """The runs in ``folder`` (or ``folder`` itself when it is one), oldest first."""
    if not folder.is_dir():
        raise RunDirError(f"No folder {folder}.", "Pass the folder your runs are in (glue runs DIR); default: runs.")
    found: list[Path] = []

    def walk(path: Path, depth: int) -> None:
        if is_run_dir(path):
            found.append(path)
            return
        if depth >= MAX_DEPTH:
            return
        for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            walk(child, depth + 1)

    walk(folder, 0)
    runs = [read_run(p) for p in found]
    return sorted(runs, key=lambda r: (r.started() or 0.0, str(r.path)))


def short_rate(rate: float) -> str:
    """A learning rate as people write it: 2e-5, 1e-4, 3.5e-5."""
    mantissa, exponent = f"{rate:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _number(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def runs_table(runs: list[RunInfo], folder: Path) -> Table:
    table = listing_table("run", "task", "backend", "precision", "lr", "epochs", "best", "train time",
                          "ex/s", "status", whole=("task", "backend", "precision", "status"))
    colors = {"running": "cyan", "finished": "green", "resumable": "yellow", "interrupted": "red"}
    for r in runs:
        row = r.to_dict()
        best = row["best"]
        best_text = "-" if best is None else f"{best['metric']} {best['value']:.4f}"
        if best and best["epoch"] is not None:
            best_text += f" (epoch {best['epoch']})"
        try:
            shown = str(r.path.relative_to(folder)) if r.path != folder else r.path.name
        except ValueError:
            shown = str(r.path)
        lr = row["learning_rate"]
        table.add_row(
            escape(shown), escape(str(row["task"] or "-")), escape(str(row["backend"] or "-")),
            escape(str(row["precision"] or "-")), "-" if lr is None else short_rate(float(lr)),
            f"{row['epochs_done']}/{row['epochs'] if row['epochs'] is not None else '?'}", best_text,
            "-" if row["train_seconds"] is None else f"{row['train_seconds']:.1f} s",
            _number(row["examples_per_second"], ".1f"),
            f"[{colors[row['status']]}]{row['status']}[/]",
        )
    return table
