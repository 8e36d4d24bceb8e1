"""Failures reading or writing a run's files, as one line naming the file (``--verbose`` keeps the cause).

A truncated safetensors file, a full disk or a read-only folder surface deep inside
transformers, safetensors or a framework, as whatever exception those raise; these context
managers turn them into the one-line errors the CLI prints, without hiding GlueErrors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from glue_cli.errors import GlueError, ModelError, RunDirError


def third_party_failure(exc: BaseException) -> bool:
    """Whether another package's plugin raised ``exc`` in its own code: the CLI names that plugin
    (its bug, not a damaged file). glue-cli's own backends stay covered by the guards."""
    from glue_cli.plugins.manager import blame, get_plugins

    failure = blame(exc, get_plugins().infos)
    return failure is not None and failure.info is not None and failure.info.distribution not in (None, "glue-cli")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def _failures_as(error: type[GlueError], message: str, hint: str) -> Iterator[None]:
    """Any failure in the block (other than a GlueError or a third-party plugin's own bug) as ``error``."""
    try:
        yield
    except GlueError:
        raise
    except Exception as exc:
        if third_party_failure(exc):
            raise
        raise error(f"{message}: {first_line(exc)}.", hint) from exc


def reading(path: Path | str, what: str, hint: str = "") -> AbstractContextManager[None]:
    """Loading ``what`` from ``path``: any failure is a ModelError naming it."""
    return _failures_as(ModelError, f"Cannot load the {what} in {path}", hint)


def writing(path: Path | str, what: str, hint: str = "") -> AbstractContextManager[None]:
    """Writing ``what`` to ``path`` (a full disk, a read-only folder): a RunDirError naming it."""
    return _failures_as(RunDirError, f"Cannot write the {what} in {path}", hint)
