"""Errors a user can cause. The CLI turns each into one red line and exit code 2."""

from __future__ import annotations


class GlueError(Exception):
    """A mistake the user can fix: a message saying what is wrong and a hint saying what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class UnknownNameError(GlueError):
    """An unknown task or backend name."""


class DataError(GlueError):
    """Missing or malformed data files."""


class BackendUnavailableError(GlueError):
    """The backend's framework is not installed."""


class RunDirError(GlueError):
    """A run directory that exists, is missing, or is not a run."""


class ModelError(GlueError):
    """A model that cannot be found or loaded."""


class ConfigError(GlueError):
    """An invalid option value or config file."""
