"""How a global batch is cut into the workers' shards (the core's part of data parallelism, no framework)."""

import numpy as np
import pytest

from glue_cli.data.batching import Batch
from glue_cli.training.world import World, gather_rows, shard, shard_rows
from helpers import glue, one_line_error


def world(rank: int, size: int) -> World:
    w = World()
    w.rank, w.size = rank, size
    return w


def batch(rows: int) -> Batch:
    ids = np.arange(rows * 3, dtype=np.int32).reshape(rows, 3) + 1
    index = np.arange(10, 10 + rows, dtype=np.int64)
    return Batch(ids, np.ones_like(ids), np.zeros_like(ids), (index % 2).astype(np.int64), index)


@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize("rows", [1, 2, 5, 8, 9])
def test_the_shards_of_all_workers_are_the_global_batch_once_in_equal_parts(rows, size):
    whole = batch(rows)
    parts = [shard(whole, world(rank, size)) for rank in range(size)]
    assert len({p.input_ids.shape for p in parts}) == 1  # every worker runs the same shape
    index = np.concatenate([p.example_index for p in parts])
    real = index[index >= 0]
    assert list(real) == list(whole.example_index)  # every row once, in order
    assert sum(p.num_examples for p in parts) == whole.num_examples
    ids = np.concatenate([p.input_ids for p in parts])
    assert (ids[index >= 0] == whole.input_ids).all()
    filler = index < 0
    assert (ids[filler] == 0).all() and not np.concatenate([p.weights for p in parts])[filler].any()


def test_a_shard_is_a_slice_of_ceil_rows_over_workers():
    assert shard_rows(9, 2, 0) == (0, 5, 5)
    assert shard_rows(9, 2, 1) == (5, 9, 5)
    assert shard_rows(1, 4, 3) == (1, 1, 1)  # nothing real: one filler row


def test_one_process_keeps_the_batch_and_drops_filler_rows_from_gathered_logits():
    whole = batch(3)
    assert shard(whole, World()) is whole
    logits = np.arange(8, dtype=np.float32).reshape(4, 2)
    kept, index = gather_rows(World(), logits, np.array([4, -1, 7, 2]))
    assert index.tolist() == [4, 7, 2] and kept.tolist() == [[0, 1], [4, 5], [6, 7]]


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_eval_and_predict_under_a_launcher_are_one_line_not_n_copies(command, tiny_model, tmp_path, monkeypatch):
    """Started by torchrun, every worker would score the whole split and write the same files."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    where = ("--output-dir", str(tmp_path / "predictions")) if command == "predict" else ()
    one_line_error(glue(command, "mrpc", "--model", str(tiny_model), *where), "WORLD_SIZE is 2", "without torchrun")
    assert not (tmp_path / "predictions").exists()



def test_local_workers_get_their_own_variables_and_a_failure_is_one_line_naming_the_worker(capsys, monkeypatch):
    """run_local_workers (flax's and tf's launch): ``env`` set or removed in every worker, each worker's
    own variables on top; the first failed worker is named in one line and its exit code returned."""
    from glue_cli.training.local_workers import run_local_workers

    # A Python whose home does not exist cannot start (exit code 1): only worker 1 gets one.
    assert run_local_workers(["--help"], {}, [{}, {"PYTHONHOME": "/nonexistent"}]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Error: worker")]
    assert lines == ["Error: worker 1 of 2 ended with exit code 1; the other workers were stopped "
                     "(the workers' own messages are above)."]
    monkeypatch.setenv("PYTHONHOME", "/nonexistent")  # removed for the workers by env's None
    assert run_local_workers(["--help"], {"PYTHONHOME": None}, [{}, {}]) == 0
