"""SIGTERM (what cluster schedulers send before killing a job): finish the step, checkpoint, exit."""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from glue_cli.errors import GlueError

# The shell's convention for "ended by SIGTERM".
EXIT_SIGTERM = 128 + signal.SIGTERM


class Stopped(GlueError):
    """Training stopped on SIGTERM after saving a checkpoint."""

    exit_code = EXIT_SIGTERM


class StopOnSigterm:
    """While active, SIGTERM sets ``requested`` instead of killing the process (main thread only)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def __enter__(self) -> StopOnSigterm:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
