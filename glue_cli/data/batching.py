"""Batches of numpy arrays, in one seeded order, identical for every backend."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from glue_cli.data.features import Encoded


@dataclass
class Batch:
    """Padded model inputs. Rows with ``example_index == -1`` are filler (weight 0)."""

    input_ids: np.ndarray  # int32 [B, L]
    attention_mask: np.ndarray  # int32 [B, L]
    token_type_ids: np.ndarray  # int32 [B, L]
    labels: np.ndarray | None  # int64 or float32 [B]
    example_index: np.ndarray  # int64 [B], position in the split; -1 for filler rows

    @property
    def weights(self) -> np.ndarray:
        return (self.example_index >= 0).astype(np.float32)

    @property
    def num_examples(self) -> int:
        return int((self.example_index >= 0).sum())

    @property
    def shape(self) -> tuple[int, int]:
        rows, length = self.input_ids.shape
        return rows, length


def padded_length(longest: int, multiple: int, cap: int) -> int:
    """Round ``longest`` up to a multiple of ``multiple``, never past ``cap``.

    With multiple 16 and cap 128 a run sees at most 8 distinct lengths: XLA and jit
    compile once per length instead of once per batch.
    """
    return min(cap, -(-longest // multiple) * multiple)


# Batches per mega-batch of length grouping: enough that a sorted mega-batch yields batches of
# near-equal lengths, few enough that an epoch still mixes short and long examples.
MEGA_BATCH = 50


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The training order of epoch ``epoch``: a permutation depending only on (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def grouped_order(
    lengths: np.ndarray, batch_size: int, seed: int, epoch: int, mega_batch: int = MEGA_BATCH
) -> np.ndarray:
    """An epoch order whose consecutive ``batch_size`` slices hold examples of similar lengths.

    The seeded shuffle of ``epoch_order`` is cut into mega-batches of ``mega_batch`` batches,
    each sorted by length (longest first) and cut into batches; the full batches are shuffled
    again, the longest moved first (so memory peaks at step 1, not hours in), and the one partial
    batch, if any, stays last (``iterate`` cuts the order into slices of ``batch_size``).
    A pure function of (lengths, batch_size, seed, epoch): a resumed run skips the same batches.
    """
    lengths = np.asarray(lengths)
    rng = np.random.default_rng([seed, epoch])
    shuffled = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    span = mega_batch * batch_size
    for start in range(0, len(shuffled), span):
        mega = shuffled[start : start + span]
        mega = mega[np.argsort(-lengths[mega], kind="stable")]
        batches.extend(mega[i : i + batch_size] for i in range(0, len(mega), batch_size))
    partial = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    batches = [batches[i] for i in rng.permutation(len(batches))]
    if batches:
        longest = int(np.argmax([lengths[b].max() for b in batches]))
        batches.insert(0, batches.pop(longest))
    batches += partial
    return np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)


def train_order(
    lengths: np.ndarray, batch_size: int, seed: int, epoch: int, group_by_length: bool = True
) -> np.ndarray:
    """The order the trainer feeds epoch ``epoch`` in, for every backend alike."""
    if group_by_length:
        return grouped_order(lengths, batch_size, seed, epoch)
    return epoch_order(len(lengths), seed, epoch)


def length_order(lengths: np.ndarray) -> np.ndarray:
    """Longest first, ties in file order: evaluation batches of similar lengths, the biggest first."""
    return np.argsort(-np.asarray(lengths), kind="stable")


def batch_tokens(
    lengths: np.ndarray, order: np.ndarray, batch_size: int, pad_multiple: int, max_length: int,
    fixed_rows: bool = False,
) -> list[tuple[int, int, int]]:
    """Per batch ``iterate`` cuts from ``order``: (examples, real tokens, processed tokens).

    Processed counts every position of the padded batch, filler rows included: what the
    model computes. Real over processed is the padding efficiency.
    """
    lengths = np.asarray(lengths)
    out = []
    for start in range(0, len(order), batch_size):
        batch = lengths[order[start : start + batch_size]]
        rows = batch_size if fixed_rows else len(batch)
        out.append((len(batch), int(batch.sum()), rows * padded_length(int(batch.max()), pad_multiple, max_length)))
    return out


def padding_efficiency(
    lengths: np.ndarray, order: np.ndarray, batch_size: int, pad_multiple: int, max_length: int,
    fixed_rows: bool = False,
) -> float:
    """Real tokens over processed tokens of the batches ``iterate`` cuts from ``order``."""
    counts = batch_tokens(lengths, order, batch_size, pad_multiple, max_length, fixed_rows)
    return sum(c[1] for c in counts) / max(1, sum(c[2] for c in counts))


def collate(
    encoded: Encoded,
    indices: np.ndarray,
    pad_multiple: int,
    max_length: int,
    pad_token_id: int = 0,
    rows: int | None = None,
) -> Batch:
    """Stack the examples at ``indices``, padded to a bucket length, and to ``rows`` rows if given."""
    rows = rows or len(indices)
    lengths = encoded.lengths[indices]
    length = padded_length(int(lengths.max()), pad_multiple, max_length)
    input_ids = np.full((rows, length), pad_token_id, dtype=np.int32)
    types = np.zeros((rows, length), dtype=np.int32)
    mask = np.zeros((rows, length), dtype=np.int32)
    for row, (i, n) in enumerate(zip(indices, lengths, strict=True)):
        start = int(encoded.offsets[i])
        input_ids[row, :n] = encoded.input_ids[start : start + n]
        types[row, :n] = encoded.token_type_ids[start : start + n]
        mask[row, :n] = 1
    example_index = np.full(rows, -1, dtype=np.int64)
    example_index[: len(indices)] = indices
    labels = None
    if encoded.labels is not None:
        labels = np.zeros(rows, dtype=encoded.labels.dtype)
        labels[: len(indices)] = encoded.labels[indices]
    return Batch(input_ids, mask, types, labels, example_index)


def iterate(
    encoded: Encoded,
    batch_size: int,
    pad_multiple: int,
    max_length: int,
    order: np.ndarray | None = None,
    fixed_rows: bool = False,
    pad_token_id: int = 0,
    skip: int = 0,
) -> Iterator[Batch]:
    """Batches over ``encoded`` in ``order`` (default: file order).

    ``fixed_rows`` pads the last, partial batch with filler rows so every batch has
    ``batch_size`` rows (one compiled shape fewer for XLA/jit). ``skip`` drops the
    first batches, to resume mid-epoch.
    """
    order = np.arange(len(encoded)) if order is None else order
    for b, start in enumerate(range(0, len(order), batch_size)):
        if b < skip:
            continue
        indices = order[start : start + batch_size]
        yield collate(
            encoded, indices, pad_multiple, max_length, pad_token_id,
            rows=batch_size if fixed_rows else None,
        )


def num_batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def split_rows(batch: Batch, rows: int) -> list[Batch]:
    """``batch`` cut into consecutive slices of ``rows`` rows: the micro-batches of one accumulated update."""
    labels = batch.labels
    return [
        Batch(batch.input_ids[s : s + rows], batch.attention_mask[s : s + rows], batch.token_type_ids[s : s + rows],
              None if labels is None else labels[s : s + rows], batch.example_index[s : s + rows])
        for s in range(0, batch.input_ids.shape[0], rows)
    ]


def concat_rows(batches: list[Batch]) -> Batch:
    """The micro-batches of one update back as one batch (they share a padded length)."""
    labels = [b.labels for b in batches]
    return Batch(
        np.concatenate([b.input_ids for b in batches]), np.concatenate([b.attention_mask for b in batches]),
        np.concatenate([b.token_type_ids for b in batches]),
        None if any(x is None for x in labels) else np.concatenate(labels),  # type: ignore[arg-type]
        np.concatenate([b.example_index for b in batches]),
    )
