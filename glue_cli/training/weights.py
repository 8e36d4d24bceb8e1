"""A model folder's PyTorch-named safetensors weights, read as numpy arrays (no framework needed).

Every model folder glue-cli reads or writes (the bundled MiniLM, every backend's runs) holds
``model.safetensors`` (or shards with an index) in PyTorch naming, so the tf and flax backends
load them from numpy and never need torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"


def has_safetensors(folder: Path) -> bool:
    return (folder / WEIGHTS).is_file() or (folder / INDEX).is_file()


def read_safetensors(folder: Path) -> dict[str, np.ndarray]:
    """Every tensor of ``folder``'s weights, one file or sharded with an index."""
    if (folder / WEIGHTS).is_file():
        return load_file(str(folder / WEIGHTS))
    index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    tensors: dict[str, np.ndarray] = {}
    for shard in sorted(set(index["weight_map"].values())):
        tensors.update(load_file(str(folder / shard)))
    return tensors
