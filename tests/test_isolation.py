"""Each backend works without the other frameworks, and a backend whose framework is absent says so.

The nox matrix runs the suite once per backend in an environment holding only that backend's
framework (``NOX_BACKEND`` names it); there the other two backends' tests below run for real.
"""

import os

import pytest

from helpers import FRAMEWORK_MODULES, framework_installed, glue, ok
from test_errors import one_line_error

# Set by noxfile.py; not GLUE_-prefixed, since the tests clear every GLUE_ variable.
ONLY = os.environ.get("NOX_BACKEND")


def test_this_session_holds_only_its_own_framework():
    if not ONLY:
        pytest.skip("NOX_BACKEND is set by the per-backend nox sessions")
    assert {b for b in FRAMEWORK_MODULES if framework_installed(b)} == {ONLY}
    assert ok("backends", "--json").json()  # listing every backend imports no missing framework


@pytest.mark.parametrize("backend", list(FRAMEWORK_MODULES))
def test_a_backend_without_its_framework_is_listed_unavailable_and_refuses_to_train(
    backend, tiny_model, real_glue, tmp_path
):
    if framework_installed(backend):
        pytest.skip(f"the {backend} backend's framework is installed here")
    row = {r["name"]: r for r in ok("backends", "--json").json()}[backend]
    assert row["available"] is False and row["reason"], row
    assert f'-e ".[{backend}]"' in row["install"]  # nox installs the clone: the README's command
    run = tmp_path / "run"
    one_line_error(glue("train", "mrpc", "--backend", backend, "--model", tiny_model, "--output-dir", run),
                   "not usable here", "pip install")
    assert not run.exists()  # refused before anything was written
