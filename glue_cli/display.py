"""What people read: the stderr console and the results table (stdout stays clean for --json)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def console() -> Console:
    return Console(stderr=True, highlight=False)


def metrics_table(results: dict[str, dict[str, float]], title: str = "Results") -> Table:
    """One row per (split, metric)."""
    table = Table(title=title, title_justify="left")
    table.add_column("split")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for split, values in results.items():
        for name, value in values.items():
            table.add_row(split, name, f"{value:.4f}")
    return table


def error_line(message: str) -> None:
    # Escaped: messages hold brackets that are not markup (pip install "glue-cli[tf]", a file's [row]).
    console().print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True, markup=True)
