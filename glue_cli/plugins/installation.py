"""How this glue-cli is installed, and the pip command that adds one of its extras.

From a clone (an editable install beside ``constraints.txt``) the README's command is the one that
works: glue-cli is not published on PyPI, and the constraints pin the versions verified together.
"""

from __future__ import annotations

from pathlib import Path

import glue_cli


def source_checkout() -> Path | None:
    """The clone glue_cli is imported from, or None for an installed wheel."""
    root = Path(glue_cli.__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "constraints.txt").is_file():
        return root
    return None


def pip_install_extra(extra: str) -> str:
    """``pip install ...`` that adds ``extra`` to this installation."""
    root = source_checkout()
    if root is not None:
        return f'pip install -c constraints.txt -e ".[{extra}]" (in {root})'
    return f'pip install "glue-cli[{extra}]"'
