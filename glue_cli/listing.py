"""The data behind ``glue tasks`` and ``glue backends``, and their tables.

Rows are plain dicts (what ``--json`` prints); the tables show the same rows to people. Cells
are escaped: an install hint holds brackets (``".[tf]"``) that rich would read as markup.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from glue_cli.display import listing_table
from glue_cli.plugins.manager import get_backends, get_tasks
from glue_cli.training.backends import install_hint, xla_note


def task_rows() -> list[dict[str, Any]]:
    registry = get_tasks()
    return [
        {"name": t.name, "kind": "regression" if t.is_regression else "classification",
         "text_fields": list(t.text_fields), "labels": list(t.labels) if t.labels else None,
         "metrics": list(t.metrics), "eval_splits": list(t.eval_splits),
         "glue_folder": t.glue.folder if t.glue else None, "hub": t.hub_id,
         "aliases": list(t.aliases), "plugin": registry.owner(t.name), "description": t.description}
        for t in registry
    ]


def task_table(rows: list[dict[str, Any]]) -> Table:
    table = listing_table("task", "kind", "labels", "metrics", "eval splits", "plugin", whole=("kind", "plugin"))
    for r in rows:
        table.add_row(*(escape(cell) for cell in (
            r["name"], r["kind"], ", ".join(r["labels"] or ["-"]), ", ".join(r["metrics"]),
            ", ".join(r["eval_splits"]), r["plugin"],
        )))
    return table


def backend_rows() -> list[dict[str, Any]]:
    registry = get_backends()
    rows = []
    for b in registry:
        reason = b.unavailable_reason()
        row: dict[str, Any] = {
            "name": b.name, "available": reason is None, "reason": reason,
            "install": install_hint(b), "plugin": registry.owner(b.name),
            "devices": [], "precisions": [], "amp": None, "xla": None, "data_parallel": None,
        }
        if reason is None:
            row.update(devices=b.devices(), precisions=b.precisions(), amp=b.amp_precision(),
                       xla=xla_note(b) or "compiles the steps")
            # getattr: a backend written against the protocol alone may not say.
            describe = getattr(b, "data_parallel", None)
            row["data_parallel"] = describe() if describe is not None else None
        rows.append(row)
    return rows


def backend_table(rows: list[dict[str, Any]]) -> Table:
    table = listing_table("backend", "available", "devices", "precisions", "--amp", "--xla", "data parallel",
                          "plugin",
                          whole=("plugin",))
    for r in rows:
        ok = "[green]yes[/]" if r["available"] else f"[red]no[/] ({escape(r['reason'])}; {escape(r['install'])})"
        table.add_row(escape(r["name"]), ok, escape(", ".join(r["devices"])), escape(", ".join(r["precisions"])),
                      escape(r["amp"] or "-"), escape((r.get("xla") or "-").split(":")[0]),
                      escape(r.get("data_parallel") or "-"), escape(r["plugin"]))
    return table


def task_names() -> list[str]:
    return [t.name for t in get_tasks()]


def complete(names: list[str], incomplete: str) -> list[str]:
    """The names that start with what the user typed (case-insensitive)."""
    return [n for n in names if n.lower().startswith(incomplete.lower())]


def backend_names() -> list[str]:
    """The registered backends' names, for help texts."""
    return [b.name for b in get_backends()]
