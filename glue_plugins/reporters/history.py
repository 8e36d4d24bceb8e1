"""The history reporter: one JSON line per event in ``<run>/history.jsonl``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO

from glue_cli.api import Event, RunEnded, RunStarted, hookimpl, json_safe


class HistoryReporter:
    def __init__(self) -> None:
        self.file: IO[str] | None = None

    @hookimpl
    def glue_on_event(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.close()
            # Appending keeps the history of a resumed run in one file.
            self.file = open(Path(event.run_dir) / "history.jsonl", "a", encoding="utf-8")
        if self.file is None:
            return
        # Strict JSON lines: a NaN loss or metric is null (a bare NaN breaks every JSON reader but Python's).
        record = json_safe({"time": round(time.time(), 3), **event.to_dict()})
        self.file.write(json.dumps(record, allow_nan=False) + "\n")
        self.file.flush()
        if isinstance(event, RunEnded):
            self.close()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


reporter = HistoryReporter()
