"""Every installed first-party backend passes the conformance suite a third-party backend runs."""

from __future__ import annotations

import pytest

from glue_cli.testing import CHECKS, check_backend
from helpers import FRAMEWORK_MODULES, framework_installed


@pytest.mark.parametrize("backend", list(FRAMEWORK_MODULES))
def test_backend_passes_the_conformance_suite(backend, tmp_path):
    if not framework_installed(backend):
        pytest.skip(f"the {backend} backend's framework is not installed here")
    report = check_backend(backend, tmp_path)
    assert set(report.passed) | set(report.skipped) == set(CHECKS)
    assert set(report.skipped) <= {"saved_model"}  # only where torch is absent


def test_a_backend_that_resumes_wrongly_fails_the_suite(tmp_path, monkeypatch):
    """The suite catches what it promises to: an engine that forgets its optimizer state on resume."""
    if not framework_installed("torch"):
        pytest.skip("needs torch")
    from glue_plugins.torch_backend.engine import TorchEngine

    monkeypatch.setattr(TorchEngine, "restore_state", lambda self, arrays: None)
    with pytest.raises(AssertionError, match="after resuming"):
        check_backend("torch", tmp_path, checks=("resume",))


def test_a_backend_that_counts_filler_rows_fails_the_suite(tmp_path, monkeypatch):
    if not framework_installed("torch"):
        pytest.skip("needs torch")
    from glue_cli.data.batching import Batch

    monkeypatch.setattr(Batch, "weights", property(lambda self: self.example_index * 0.0 + 1.0))
    with pytest.raises(AssertionError, match="filler rows"):
        check_backend("torch", tmp_path, checks=("filler_rows",))


def test_a_backend_that_ignores_its_precision_fails_the_suite(tmp_path, monkeypatch):
    if not framework_installed("torch"):
        pytest.skip("needs torch")
    from glue_plugins.torch_backend import engine

    monkeypatch.setattr(engine, "DTYPES", {**engine.DTYPES, "bf16": engine.torch.float32})
    with pytest.raises(AssertionError, match="bf16: logits equal fp32's"):
        check_backend("torch", tmp_path, checks=("precisions",))


def test_a_backend_that_accumulates_wrongly_fails_the_suite(tmp_path, monkeypatch):
    if not framework_installed("torch"):
        pytest.skip("needs torch")
    from glue_plugins.torch_backend.engine import TorchEngine

    # Only the first micro-batch trained: not the joined batch's update.
    monkeypatch.setattr(TorchEngine, "train_micro_batches",
                        lambda self, batches, rate: self.train_step(batches[0], rate))
    with pytest.raises(AssertionError, match="accumulated update"):
        check_backend("torch", tmp_path, checks=("accumulation",))
