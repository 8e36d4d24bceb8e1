"""Data parallel on the tiny model and real MRPC rows, 2 workers on this CPU: the same run as 1 worker.

Tolerance: with dropout off the 2-worker run computes what the 1-worker run does, except that
the gradient of the global batch is summed in another order (each worker's half, then the
framework's all-reduce), so float32 losses may differ in the last bits: 1e-5 relative over the
few steps here, and the dev metrics and predicted labels must be the same. With dropout on, each
worker draws masks for its own rows, so runs with different worker counts differ by more than
float noise; what must then hold is that a resumed 2-worker run ends where an uninterrupted
2-worker run ends, weights bit for bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glue_cli.training.tinymodel import make_tiny_bert
from helpers import FAST, glue, ok, one_line_error

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

WORKER = Path(__file__).resolve().parent.parent / "dp_worker.py"
LOSS_RTOL = 1e-5


@pytest.fixture(scope="module")
def no_dropout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert", dropout=0.0)


def train(model: Path, out: Path, *extra: str) -> dict:
    ok("train", "mrpc", "--backend", "torch", "--model", model, "--output-dir", out, *FAST, "--epochs", "2",
       "-q", *extra)
    return json.loads((out / "metrics.json").read_text())


def step_losses(run: Path) -> list[float]:
    events = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    return [e["loss"] for e in events if e["event"] == "step"]


def predictions(run: Path) -> list[list[str]]:
    """(id, predicted label) per dev row, from eval_predictions/validation.tsv."""
    lines = (run / "eval_predictions" / "validation.tsv").read_text().splitlines()[1:]
    return [line.split("\t")[:2] for line in lines]


def weights(run: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(run / "model" / "model.safetensors"))


def test_two_workers_train_the_one_worker_run(tmp_path, no_dropout, real_glue):
    one = train(no_dropout, tmp_path / "one")
    two = train(no_dropout, tmp_path / "two", "--nproc", "2")
    assert two["eval"] == one["eval"] and two["train"]["steps"] == one["train"]["steps"] == 6
    np.testing.assert_allclose(step_losses(tmp_path / "two"), step_losses(tmp_path / "one"), rtol=LOSS_RTOL)
    # Eval saw every one of the 40 dev rows exactly once, and labelled each as one worker did.
    rows = predictions(tmp_path / "two")
    assert len(rows) == 40 and len({row_id for row_id, _ in rows}) == 40
    assert rows == predictions(tmp_path / "one")
    configs = [json.loads((tmp_path / name / "config.json").read_text()) for name in ("one", "two")]
    assert [c["world_size"] for c in configs] == [1, 2]
    # Only the main worker wrote: one history, each step once.
    assert len(step_losses(tmp_path / "two")) == 6


def test_devices_on_torch_starts_one_worker_per_device(tmp_path, no_dropout, real_glue):
    train(no_dropout, tmp_path / "run", "--devices", "2", "--epochs", "1")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["world_size"] == 2


def torchrun(fault: str, *args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(WORKER), fault, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


def test_an_interrupted_two_worker_run_resumes_to_where_an_uninterrupted_one_ends(tmp_path, tiny_model, real_glue):
    whole = train(tiny_model, tmp_path / "whole", "--nproc", "2")
    args = ("train", "mrpc", "--backend", "torch", "--model", tiny_model, "--output-dir", tmp_path / "part",
            *FAST, "--epochs", "2", "-q")
    stopped = torchrun("interrupt", *args)
    assert stopped.returncode != 0 and "Interrupted" in stopped.stderr, stopped.stderr[-3000:]
    state = json.loads((tmp_path / "part" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1 and state["step"] == 3
    resumed = train(tiny_model, tmp_path / "part", "--nproc", "2", "--resume")
    assert resumed["eval"] == whole["eval"] and resumed["train"]["steps"] == 6
    ends, resumed_weights = weights(tmp_path / "whole"), weights(tmp_path / "part")
    assert all(np.array_equal(ends[name], resumed_weights[name]) for name in ends)


def test_a_dead_worker_ends_the_run_with_a_message_not_a_hang(tmp_path, tiny_model, real_glue):
    result = torchrun("kill-rank-1", "train", "mrpc", "--backend", "torch", "--model", tiny_model,
                      "--output-dir", tmp_path / "run", *FAST, "--epochs", "2", "-q",
                      env={"GLUE_DIST_TIMEOUT": "60"})
    assert result.returncode != 0
    assert "rank      : 1" in result.stderr and "Signal 9 (SIGKILL)" in result.stderr, result.stderr[-3000:]
    assert not (tmp_path / "run").exists()  # nothing kept before the first checkpoint


def test_nproc_on_a_backend_that_cannot_start_workers_is_one_line(tmp_path):
    one_line_error(glue("train", "mrpc", "--backend", "tf", "--nproc", "2"), "--nproc 2", "tf backend")
    one_line_error(glue("train", "mrpc", "--nproc", "0"), "--nproc 0")
