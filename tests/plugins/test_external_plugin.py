"""An out-of-tree plugin distribution, installed with pip, shows up like a built-in one."""

import json
import shutil
import subprocess
import sys

import pytest

from helpers import REPO, glue, ok, one_line_error

ACME = REPO / "tests" / "fixtures" / "glue-acme"


@pytest.fixture(scope="module")
def acme_site(tmp_path_factory):
    """glue-acme installed by pip into its own folder (the test environment stays untouched)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(ACME)],
        check=True, cwd=tmp_path_factory.mktemp("build"),
    )
    return target


@pytest.fixture
def with_acme(acme_site, monkeypatch):
    monkeypatch.syspath_prepend(str(acme_site))


def test_installed_plugin_is_listed_by_a_fresh_glue_process(acme_site, tmp_path):
    env = {"PYTHONPATH": str(acme_site), "PATH": "", "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-m", "glue_cli", "plugins", "--json"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    acme = next(r for r in json.loads(run.stdout) if r["name"] == "acme")
    assert acme["version"] == "0.3.0" and acme["origin"] == "glue-acme"
    assert acme["hooks"] == ["glue_register_backends", "glue_register_tasks"]


def test_its_task_and_backend_appear(with_acme):
    tasks = {r["name"]: r for r in ok("tasks", "--json").json()}
    assert tasks["acme-paraphrase"]["plugin"] == "acme"
    assert tasks["acme-paraphrase"]["labels"] == ["different", "same"]
    backends = {r["name"]: r for r in ok("backends", "--json").json()}
    assert backends["acme"]["available"] is False
    assert "acme_accel" in backends["acme"]["reason"]


def test_missing_framework_is_one_line_with_install_hint(with_acme, tiny_model):
    one_line_error(glue("train", "mrpc", "--backend", "acme", "--model", tiny_model),
                   "acme backend is not usable here", "acme_accel", "pip install")


def test_its_task_trains_on_the_torch_backend(with_acme, tiny_model, tmp_path, real_glue):
    pytest.importorskip("torch")
    folder = tmp_path / "ACME"
    folder.mkdir()
    for split, name in (("train", "train.tsv"), ("dev", "dev.tsv")):
        rows = (real_glue / "MRPC" / f"{split}.tsv").read_text(encoding="utf-8-sig").splitlines()
        out = ["id\tverdict\tleft\tright"]
        for i, row in enumerate(rows[1:41]):
            label, _, _, left, right = row.split("\t")
            out.append(f"{i}\t{['different', 'same'][int(label)]}\t{left}\t{right}")
        (folder / name).write_text("\n".join(out) + "\n")
    summary = ok("train", "acme-paraphrase", "--backend", "torch", "--model", tiny_model,
                 "--data-dir", folder, "--epochs", "1", "--output-dir", tmp_path / "run",
                 "--json").json()
    assert set(summary["eval"]["validation"]) == {"accuracy", "f1", "combined_score"}
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "different", "1": "same"}
    shutil.rmtree(tmp_path / "run")
