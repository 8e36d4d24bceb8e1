"""``glue report``: one picture of one or several runs, from the files each run wrote.

Training loss and learning rate per step and every evaluation, drawn against the epoch (a step
divided by the run's steps per epoch), so runs of different sizes or batch sizes share the axes;
one colour per run across the panels. ``.png`` writes the picture; ``.html`` a page holding it,
the runs' summary and final metrics, and the settings in which the runs differ.

matplotlib (the ``report`` extra) is imported only here, with its Agg canvas: no display needed.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glue_cli.errors import GlueError, RunDirError
from glue_cli.plugins.installation import pip_install_extra
from glue_cli.runs.atomic import atomic_file
from glue_cli.runs.runlist import RunInfo, find_runs, is_run_dir, read_run, short_rate

FORMATS = (".html", ".png")
# Settings that differ between any two runs and say nothing about them.
NOT_COMPARED = {"output_dir", "overwrite", "resume"}
MAX_EVAL_PANELS = 4
# Runs that score the same draw on top of each other: each run its own hollow marker, the earlier
# ones larger, so a run under another still shows around it.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
# The mean of a task's metrics, already drawn one by one.
NOT_DRAWN = {"combined_score"}


class ReportError(GlueError):
    """A report that cannot be drawn: no run, no data, an unknown output type, no matplotlib."""


@dataclass
class Series:
    """What one run contributes to the picture."""

    label: str
    run: RunInfo
    steps_per_epoch: int

    def x(self, step: int) -> float:
        return step / self.steps_per_epoch


def collect_runs(paths: list[Path]) -> list[RunInfo]:
    """Each path a run directory, or a folder of them (every run found inside)."""
    runs: list[RunInfo] = []
    for path in paths:
        if is_run_dir(path):
            runs.append(read_run(path))
            continue
        if not path.is_dir():
            raise RunDirError(f"No run directory {path}.", "Pass run directories from glue train (see glue runs).")
        found = find_runs(path)
        if not found:
            raise RunDirError(f"No runs in {path}.", "Pass run directories from glue train (see glue runs).")
        runs.extend(found)
    unique = {r.path.resolve(): r for r in runs}
    return list(unique.values())


def labels_for(runs: list[RunInfo]) -> list[str]:
    """Each run's folder name, or more of its path where two runs share a name."""
    names = [r.path.name for r in runs]
    if len(set(names)) == len(names):
        return names
    return [str(r.path) for r in runs]


def series_of(runs: list[RunInfo]) -> list[Series]:
    out = []
    for label, run in zip(labels_for(runs), runs, strict=True):
        per_epoch = run.history.steps_per_epoch
        if per_epoch is None or not run.history.steps:
            raise ReportError(
                f"Run {run.path} has no training history (history.jsonl).",
                "It was stopped before its first step; leave it out of the report.",
            )
        out.append(Series(label, run, max(1, per_epoch)))
    return out


def eval_panels(series: list[Series]) -> list[tuple[str, str]]:
    """(split, metric) pairs in the order the runs report them, at most MAX_EVAL_PANELS."""
    seen: dict[tuple[str, str], None] = {}
    for s in series:
        for e in s.run.history.evals:
            for metric in e["metrics"]:
                if metric in NOT_DRAWN:
                    continue
                seen.setdefault((str(e["split"]), str(metric)), None)
    return list(seen)[:MAX_EVAL_PANELS]


def smooth(values: list[float], weight: float) -> list[float]:
    """TensorBoard's exponential moving average, debiased so the curve starts at the first value."""
    out, last, norm = [], 0.0, 0.0
    for v in values:
        last = weight * last + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out.append(last / norm)
    return out


def draw(series: list[Series]) -> Any:
    """A matplotlib Figure: loss, learning rate, then one panel per evaluated (split, metric)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportError(
            "glue report needs matplotlib, which is not installed.",
            f"Install it with: {pip_install_extra('report')}",
        ) from None
    panels = ["loss", "learning rate", *eval_panels(series)]
    cols = 2
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(11, 3.6 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True).flatten()
    colors = [f"C{i % 10}" for i in range(len(series))]
    for ax in axes[:len(panels)]:
        ax.grid(True, alpha=0.3)
        ax.set_xlabel("epoch")
        ax.xaxis.set_tick_params(labelbottom=True)
    for i, (s, color) in enumerate(zip(series, colors, strict=True)):
        marker, size = MARKERS[i % len(MARKERS)], max(5.0, 13.0 - 3.5 * i)
        steps = s.run.history.steps
        xs = [s.x(int(e["step"])) for e in steps]
        losses = [float(e["loss"]) for e in steps]
        loss_ax, lr_ax = axes[0], axes[1]
        if len(steps) > 20:
            loss_ax.plot(xs, losses, color=color, alpha=0.25, linewidth=0.8)
            loss_ax.plot(xs, smooth(losses, 0.9), color=color, linewidth=1.8, label=s.label)
        else:
            loss_ax.plot(xs, losses, color=color, linewidth=1.5, marker=marker, markersize=size / 2, label=s.label)
        lr_ax.plot(xs, [float(e["learning_rate"]) for e in steps], color=color, linewidth=1.5)
        for ax, (split, metric) in zip(axes[2:], panels[2:], strict=False):
            points = [(float(e["epoch"]), float(e["metrics"][metric])) for e in s.run.history.evals
                      if e["split"] == split and metric in e["metrics"]]
            if points:
                ax.plot(*zip(*points, strict=True), color=color, marker=marker, markersize=size, linewidth=1.5,
                        markerfacecolor="none", markeredgewidth=2)
    axes[0].set_title("training loss" + (" (smoothed; faint: per step)" if any(
        len(s.run.history.steps) > 20 for s in series) else " per step"))
    axes[0].set_ylabel("loss")
    axes[1].set_title("learning rate")
    axes[1].set_ylabel("learning rate")
    axes[1].ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    for ax, panel in zip(axes[2:], panels[2:], strict=False):
        split, metric = panel
        ax.set_title(f"{split} {metric} (after each epoch)")
        ax.set_ylabel(metric)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    axes[0].set_xlim(left=0)  # the axes share x: training starts at epoch 0
    tasks = sorted({str(s.run.config.get("task")) for s in series})
    fig.suptitle(f"glue report: {', '.join(tasks)} — {len(series)} run(s)", fontsize=13)
    fig.legend(loc="outside lower center", ncols=min(3, len(series)), frameon=False)
    return fig


def png_bytes(fig: Any, series: list[Series]) -> bytes:
    buffer = io.BytesIO()
    # The run names travel in the file too (a PNG text chunk), for whoever reads it without eyes.
    description = "glue report of runs: " + ", ".join(s.label for s in series)
    fig.savefig(buffer, format="png", dpi=100, metadata={"Title": "glue report", "Description": description})
    return buffer.getvalue()


def config_differences(runs: list[RunInfo]) -> dict[str, list[Any]]:
    """Setting -> each run's value, for the settings (versions included) where the runs differ."""
    flat = [_flatten(r.config) for r in runs]
    keys = sorted({k for f in flat for k in f} - NOT_COMPARED)
    if len(runs) == 1:
        return {k: [flat[0].get(k)] for k in keys}
    return {k: [f.get(k) for f in flat] for k in keys if len({json.dumps(f.get(k)) for f in flat}) > 1}


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return short_rate(value) if 0 < abs(value) < 1e-3 else f"{value:g}"
    return str(value)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; }
"""


def html_page(series: list[Series], png: bytes) -> str:
    runs = [s.run for s in series]
    summary = []
    for s in series:
        d = s.run.to_dict()
        best = d["best"]
        summary.append([
            s.label, d["task"], d["backend"], d["precision"], d["learning_rate"],
            f"{d['epochs_done']}/{d['epochs']}",
            None if best is None else f"{best['split']} {best['metric']} {best['value']:.4f}"
            + ("" if best["epoch"] is None else f" (epoch {best['epoch']})"),
            None if d["train_seconds"] is None else f"{d['train_seconds']:.1f} s",
            None if d["examples_per_second"] is None else f"{d['examples_per_second']:.1f}",
            d["status"], str(s.run.path),
        ])
    finals = []
    for s in series:
        for split, values in ((s.run.metrics or {}).get("eval") or {}).items():
            for metric, value in values.items():
                finals.append([s.label, split, metric, f"{value:.4f}"])
    differences = config_differences(runs)
    if len(runs) == 1:
        settings_title = "Settings"
        settings = _table(["setting", series[0].label], [[k, *v] for k, v in differences.items()])
    else:
        settings_title = "Settings that differ"
        settings = (_table(["setting", *(s.label for s in series)], [[k, *v] for k, v in differences.items()])
                    if differences else "<p>None: the runs share every setting.</p>")
    image = base64.b64encode(png).decode("ascii")
    title = "glue report: " + ", ".join(s.label for s in series)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Written {html.escape(time.strftime('%Y-%m-%d %H:%M'))} by glue report from each run's "
        "history.jsonl, metrics.json and config.json.</p>",
        f'<img alt="{html.escape(title)}" src="data:image/png;base64,{image}">',
        "<h2>Runs</h2>",
        _table(["run", "task", "backend", "precision", "lr", "epochs", "best", "train time", "ex/s", "status",
                "path"], summary),
        "<h2>Final dev metrics</h2>",
        _table(["run", "split", "metric", "value"], finals) if finals else "<p>No run has finished.</p>",
        f"<h2>{settings_title}</h2>", settings, "</body>", "</html>", "",
    ])


def write_report(paths: list[Path], output: Path) -> Path:
    """Draw the runs at ``paths`` into ``output`` (.png or .html); returns the file written."""
    suffix = output.suffix.lower()
    if suffix not in FORMATS:
        raise ReportError(f"Cannot write a report as {output.name}.", "Name a .html or .png file with --output.")
    if not paths:
        raise ReportError("No run to report on.", "Pass one or more run directories (see glue runs).")
    series = series_of(collect_runs(paths))
    fig = draw(series)
    png = png_bytes(fig, series)
    data = png if suffix == ".png" else html_page(series, png).encode("utf-8")
    with atomic_file(output) as tmp:
        tmp.write_bytes(data)
    return output
