"""What people read: the stderr console (progress, warnings, results of work), the stdout console
(what a listing command prints), tables that never cut a name."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table


def console() -> Console:
    return Console(stderr=True, highlight=False)


# Piped output (glue tasks | grep ...) has no width: rich would assume 80 columns and cut cells.
PIPE_WIDTH = 1000


def listing_table(*columns: str, whole: tuple[str, ...] = ()) -> Table:
    """A listing's table. The first column and those named in ``whole`` (names people grep and copy)
    never wrap; see ``print_listing`` for the others."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for i, name in enumerate(columns):
        table.add_column(name, overflow="fold", no_wrap=i == 0 or name in whole)
    return table


def print_listing(table: Table, out: Console | None = None) -> None:
    """Print a listing on stdout, never cutting a cell with an ellipsis.

    Piped: one line per row, whatever its length (``glue tasks | grep mrpc``). On a terminal, the
    other columns wrap between words; on one too narrow for that, they fold inside words too, while
    the no-wrap columns stay whole (rich alone narrows every column alike and cuts names with "…").
    """
    out = out or Console(highlight=False)
    if not out.is_terminal:
        out.width = PIPE_WIDTH
        out.print(table)
        return
    wide = out.options.update_width(PIPE_WIDTH)
    padding = 2
    lows, highs = [], []
    for column in table.columns:
        sizes = [Measurement.get(out, wide, cell) for cell in (column.header, *column.cells)]
        high = max(m.maximum for m in sizes)
        lows.append((high if column.no_wrap else max(m.minimum for m in sizes)) + padding)
        highs.append(high + padding)
    extra = Measurement.get(out, wide, table).maximum - sum(highs)
    budget = out.width - extra
    if sum(highs) <= budget:
        out.print(table)
        return
    if sum(lows) <= budget:  # whole words fit: share what is left in proportion to what each lacks
        spare, weights = budget - sum(lows), [h - lo for h, lo in zip(highs, lows, strict=True)]
    else:  # fold the wrapping columns, in proportion to their longest word
        folded = [padding + 3 if not c.no_wrap else h for c, h in zip(table.columns, highs, strict=True)]
        spare = max(0, budget - sum(folded))
        weights = [0 if c.no_wrap else lo for c, lo in zip(table.columns, lows, strict=True)]
        lows = folded
    total = sum(weights) or 1
    widths = [lo + w * spare // total for lo, w in zip(lows, weights, strict=True)]
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width - padding
    out.width = max(out.width, sum(widths) + extra)
    out.print(table)


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
