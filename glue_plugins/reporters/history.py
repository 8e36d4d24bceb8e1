"""The history reporter: one JSON line per event in ``<run>/history.jsonl``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO

from glue_cli.api import Event, RunEnded, RunStarted, hookimpl


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
        self.file.write(json.dumps({"time": round(time.time(), 3), **event.to_dict()}) + "\n")
        self.file.flush()
        if isinstance(event, RunEnded):
            self.close()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


reporter = HistoryReporter()
