"""Each backend works without the other frameworks, and a backend whose framework is absent says so.

The nox matrix runs each backend's tests in an environment holding only that backend's framework
(``NOX_BACKEND`` names it); these tests run in every one of those sessions (``every_session``), and
there the other two backends' cases below run for real.
"""

import os

import pytest

from helpers import FRAMEWORK_MODULES, framework_installed, glue, ok, one_line_error

pytestmark = pytest.mark.every_session

# Set by noxfile.py; not GLUE_-prefixed, since the tests clear every GLUE_ variable.
ONLY = os.environ.get("NOX_BACKEND")


def test_this_session_holds_only_its_own_framework():
    if not ONLY:
        pytest.skip("NOX_BACKEND is set by the per-backend nox sessions")
    assert {b for b in FRAMEWORK_MODULES if framework_installed(b)} == {ONLY}
    assert ok("backends", "--json").json()  # listing every backend imports no missing framework


# "other", not "backend": each case is a backend this session lacks, not one it exercises (conftest).
@pytest.mark.parametrize("other", list(FRAMEWORK_MODULES))
def test_a_backend_without_its_framework_is_listed_unavailable_and_refuses_to_train(
    other, tiny_model, real_glue, tmp_path
):
    if framework_installed(other):
        pytest.skip(f"the {other} backend's framework is installed here")
    row = {r["name"]: r for r in ok("backends", "--json").json()}[other]
    assert row["available"] is False and row["reason"], row
    assert f'-e ".[{other}]"' in row["install"]  # nox installs the clone: the README's command
    run = tmp_path / "run"
    one_line_error(glue("train", "mrpc", "--backend", other, "--model", tiny_model, "--output-dir", run),
                   "not usable here", "pip install")
    assert not run.exists()  # refused before anything was written
