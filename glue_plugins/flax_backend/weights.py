"""PyTorch-named safetensors weights <-> a Flax parameter tree, with numpy only (no torch needed).

Model folders (the bundled MiniLM, runs of every backend) hold ``model.safetensors`` in
PyTorch naming: ``encoder.layer.0.attention.self.query.weight`` of shape ``[out, in]``.
Flax names the same array ``('bert', 'encoder', 'layer', '0', 'attention', 'self', 'query',
'kernel')`` with shape ``[in, out]``; LayerNorm's ``weight`` is ``scale`` and an embedding's
``weight`` is ``embedding``. Saving maps back, so a flax run is loaded by torch unchanged.
"""

from __future__ import annotations

import numpy as np

Key = tuple[str, ...]


def _flax_candidates(pt_name: str, prefix: str) -> list[tuple[Key, bool]]:
    """Flax keys ``pt_name`` may be, and whether the array is transposed on the way."""
    parts = tuple(pt_name.split("."))
    bases = [parts, (prefix, *parts)] if parts[0] != prefix else [parts, parts[1:]]
    found: list[tuple[Key, bool]] = []
    for base in bases:
        stem, last = base[:-1], base[-1]
        if last in ("weight", "gamma"):
            found += [((*stem, "scale"), False), ((*stem, "embedding"), False), ((*stem, "kernel"), True)]
        elif last == "beta":
            found.append(((*stem, "bias"), False))
        else:
            found.append((base, False))
    return found


def pt_to_flax(
    tensors: dict[str, np.ndarray], template: dict[Key, np.ndarray], prefix: str
) -> tuple[dict[Key, np.ndarray], list[str]]:
    """Map PyTorch-named ``tensors`` onto the flattened Flax ``template``.

    Returns the arrays found (by Flax key) and the PyTorch names that match nothing (buffers
    such as ``position_ids``, a head of another shape...). Keys missing from the result keep
    the template's freshly initialised value: a new classification head.
    """
    mapped: dict[Key, np.ndarray] = {}
    unused: list[str] = []
    for name, array in tensors.items():
        for key, transpose in _flax_candidates(name, prefix):
            if key in template:
                value = array.T if transpose else array
                if value.shape == template[key].shape:
                    mapped[key] = np.asarray(value, dtype=np.float32)
                    break
        else:
            unused.append(name)
    return mapped, unused


def flax_to_pt(params: dict[Key, np.ndarray]) -> dict[str, np.ndarray]:
    """PyTorch names and layouts for a flattened Flax parameter tree (what ``save_pretrained`` of torch writes)."""
    out: dict[str, np.ndarray] = {}
    for key, array in params.items():
        stem, last = key[:-1], key[-1]
        value = np.asarray(array, dtype=np.float32)
        if last == "kernel":
            value = value.T  # Dense: Flax [in, out], torch [out, in]
        if last in ("kernel", "scale", "embedding"):
            last = "weight"
        out[".".join((*stem, last))] = np.ascontiguousarray(value)
    return out
