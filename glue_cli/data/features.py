"""Tokenization of a split into ragged token arrays, cached on disk.

The cache key is the tokenizer's full definition, the maximum length and the exact texts
and labels of the split, so an edited data file or another tokenizer never hits a stale entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glue_cli.cachedir import glue_cache_dir
from glue_cli.data.glue_folder import Split
from glue_cli.runs.atomic import atomic_file

CHUNK = 2048


@dataclass
class Encoded:
    """A tokenized split: token ids of every example concatenated, cut by ``offsets``."""

    input_ids: np.ndarray  # int32, all examples back to back
    token_type_ids: np.ndarray  # int32, same length
    offsets: np.ndarray  # int64, n + 1 boundaries
    labels: np.ndarray | None
    cached: bool = False

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def head(self, n: int | None) -> Encoded:
        if n is None or n >= len(self):
            return self
        end = int(self.offsets[n])
        labels = None if self.labels is None else self.labels[:n]
        return Encoded(
            self.input_ids[:end], self.token_type_ids[:end], self.offsets[: n + 1], labels,
            self.cached,
        )


def cache_dir() -> Path:
    return glue_cache_dir() / "features"


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A digest of everything that decides how the tokenizer splits text."""
    parts = [type(tokenizer).__name__, str(tokenizer.padding_side), str(tokenizer.truncation_side)]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        definition = json.loads(backend.to_str())
        # Calling the tokenizer with truncation=True stores that setting in it: without dropping
        # it, the same tokenizer would give another key after its first use (and miss the cache).
        for per_call in ("truncation", "padding"):
            definition.pop(per_call, None)
        parts.append(json.dumps(definition, sort_keys=True))
    else:  # a slow tokenizer: its vocabulary and special tokens define it
        parts.append(json.dumps(sorted(tokenizer.get_vocab().items())))
        parts.append(json.dumps(tokenizer.special_tokens_map, sort_keys=True))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _key(split: Split, tokenizer_digest: str, max_length: int) -> str:
    h = hashlib.sha256()
    h.update(f"{tokenizer_digest}\0{max_length}\0{len(split)}\0".encode())
    for texts in split.texts:
        h.update("\x1f".join(texts).encode())
        h.update(b"\x1e")
    if split.labels is not None:
        h.update(np.ascontiguousarray(split.labels).tobytes())
    return h.hexdigest()[:32]


def _tokenize(split: Split, tokenizer: Any, max_length: int) -> Encoded:
    ids: list[np.ndarray] = []
    types: list[np.ndarray] = []
    for start in range(0, len(split), CHUNK):
        chunk = split.texts[start : start + CHUNK]
        columns = [list(c) for c in zip(*chunk, strict=True)]
        out = tokenizer(
            *columns,
            truncation=True,
            max_length=max_length,
            padding=False,
            return_token_type_ids=True,
            return_attention_mask=False,
        )
        ids.extend(np.asarray(x, dtype=np.int32) for x in out["input_ids"])
        types.extend(np.asarray(x, dtype=np.int32) for x in out["token_type_ids"])
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(x) for x in ids])
    return Encoded(np.concatenate(ids), np.concatenate(types), offsets, split.labels)


def read_entry(path: Path, split: Split, max_length: int) -> Encoded | None:
    """A cache entry, checked against the split; None when it is damaged (the caller rebuilds it).

    The cache is shared by every run on the machine: a truncated or foreign file must cost a
    re-tokenization, never a crash or wrong token ids.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            ids, types, offsets = z["input_ids"], z["token_type_ids"], z["offsets"]
    except Exception:  # BadZipFile, EOFError, KeyError, ValueError, OSError: all mean "not a good entry"
        return None
    good = (
        ids.ndim == types.ndim == offsets.ndim == 1
        and ids.dtype == types.dtype == np.int32 and offsets.dtype == np.int64
        and len(ids) == len(types) and len(offsets) == len(split) + 1
        and offsets[0] == 0 and offsets[-1] == len(ids) and bool((np.diff(offsets) >= 0).all())
        and bool((np.diff(offsets) <= max_length).all())
    )
    return Encoded(ids, types, offsets, split.labels, True) if good else None


def encode(split: Split, tokenizer: Any, max_length: int, use_cache: bool = True) -> Encoded:
    """Tokenize ``split`` (truncating to ``max_length``), reading and filling the on-disk cache."""
    path = cache_dir() / f"{_key(split, tokenizer_fingerprint(tokenizer), max_length)}.npz"
    if use_cache and path.is_file():
        cached = read_entry(path, split, max_length)
        if cached is not None:
            return cached
    encoded = _tokenize(split, tokenizer, max_length)
    if use_cache:
        try:
            with atomic_file(path) as tmp, open(tmp, "wb") as f:
                np.savez(
                    f,
                    input_ids=encoded.input_ids,
                    token_type_ids=encoded.token_type_ids,
                    offsets=encoded.offsets,
                )
        except OSError:
            pass  # a cache that cannot be written (full, read-only) only costs speed
    return encoded
