"""SIGKILL a tiny run at many points (steps, evaluation, checkpoint writes, the final save) and SIGTERM
it mid-epoch: every run resumes, as its message advises, to the uninterrupted run's exact metrics and
bit-identical final weights.

The runs fork from one driver process (tests/killpoints.py) that imported the framework once, so a
kill point costs a second or two, not an interpreter start.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import framework_installed

DRIVER = Path(__file__).parent.parent / "killpoints.py"  # a helper module at tests/


def kill_and_resume(tmp_path, model, backend, points, mode="kill"):
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run(
        [sys.executable, str(DRIVER), backend, str(model), str(work), str(points), mode],
        capture_output=True, text=True, timeout=1200, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    print(json.dumps(report))  # pytest -s shows each point: where it was killed, the exit codes
    for result in report["results"]:
        # Killed (or stopped by SIGTERM with exit 143), then resumed: never a traceback (exit 1).
        assert result["exits"][0] == (-9 if mode == "kill" else 143), result  # the signal did arrive
        assert all(code in (0, 2) for code in result["exits"][1:]) and result["exits"][-1] == 0, result
        assert result["same_eval"] and result["same_weights"], (result, report["expected"])
        assert result["leftovers"] == [], result  # no .tmp or .old folders after the resume
    return report


def test_sigkill_at_8_points_of_a_torch_run(tmp_path, tiny_model, real_glue):
    """Spread over the run's ~50 probe points: steps, evaluations, both checkpoints, the final save."""
    pytest.importorskip("torch")
    report = kill_and_resume(tmp_path, tiny_model, "torch", 8)
    assert len(report["results"]) == 8


def test_sigterm_checkpoints_at_the_current_step_and_resumes_exactly(tmp_path, tiny_model, real_glue):
    pytest.importorskip("torch")
    report = kill_and_resume(tmp_path, tiny_model, "torch", 2, "term")
    assert [r["exits"][0] for r in report["results"]] == [143, 143]


# The full sweep costs minutes (each point is a killed run and its resume): slow, like the real-model tests.
# torch: 12 points (k/13 of the run's probe points) beside the fast test's 8 (k/9); tf, flax (their
# own saves, the core's atomic writes): a third and two thirds in.
@pytest.mark.slow
@pytest.mark.parametrize(("backend", "points"), [("torch", 12), ("tf", 2), ("flax", 2)])
def test_sigkill_sweep(tmp_path, tiny_model, real_glue, backend, points):
    if not framework_installed(backend):
        pytest.skip(f"{backend} is not installed")
    report = kill_and_resume(tmp_path, tiny_model, backend, points)
    assert len(report["results"]) == points
