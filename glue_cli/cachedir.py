"""Where glue-cli keeps what later runs reuse: ``$GLUE_CACHE_DIR``, else ``~/.cache/glue-cli``."""

from __future__ import annotations

import os
from pathlib import Path


def glue_cache_dir() -> Path:
    """The folder of glue-cli's caches (tokenized data in ``features/``, a backend's compiled steps
    in a folder of its own); read each time, so a changed ``GLUE_CACHE_DIR`` counts."""
    return Path(os.environ.get("GLUE_CACHE_DIR") or Path.home() / ".cache" / "glue-cli")
