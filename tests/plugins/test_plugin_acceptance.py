"""The plugin author's path, end to end: glue plugins new, fill in the CSV task, glue plugins install -e,
glue train. It runs in a throw-away venv (``python -m venv --system-site-packages``) that sees this
environment's packages, so the install goes through ``glue plugins install`` for real and the test
environment stays untouched.
"""

import json
import os
import site
import subprocess
import sys

import pytest

TEXTS = "review"
LABEL = "sentiment"


def run(python, *args, cwd, check=True):
    result = subprocess.run([str(python), *map(str, args)], cwd=cwd, env=dict(os.environ), capture_output=True,
                            text=True)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def sst2_csv(real_glue, split, n):
    """``n`` real SST-2 rows as a CSV with the plugin's own column names and label words."""
    lines = (real_glue / "SST-2" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()[1 : n + 1]
    rows = [line.split("\t") for line in lines]
    # Quoted like any CSV writer would: SST-2 sentences hold commas and quotes.
    body = "".join('"{}",{}\n'.format(text.replace('"', '""'), ["negative", "positive"][int(label)])
                   for text, label in rows)
    return f"{TEXTS},{LABEL}\n{body}"


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A throw-away venv that sees this environment's packages (glue-cli, pip, setuptools, frameworks)."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # The test environment may itself be a venv, which --system-site-packages does not reach: a .pth
    # line that starts with "import" runs, and addsitedir also honours that folder's .pth files
    # (glue-cli's editable install).
    dirs = [d for d in (*site.getsitepackages(), site.getusersitepackages()) if os.path.isdir(d)]
    with open(os.path.join(purelib, "_test_env.pth"), "w") as f:
        f.write("import site; " + "; ".join(f"site.addsitedir({d!r})" for d in dirs) + "\n")
    return python


@pytest.fixture(scope="module")
def acme(venv, tmp_path_factory, real_glue):
    """acme-sentiment: scaffolded, filled in with real SST-2 rows, installed with glue plugins install -e."""
    work = tmp_path_factory.mktemp("work")
    run(venv, "-m", "glue_cli", "plugins", "new", "acme-sentiment", "--kind", "task", cwd=work)
    project = work / "acme-sentiment"
    module = project / "acme_sentiment" / "__init__.py"
    source = module.read_text()
    # Filling in the marked blocks: this data's column names.
    for old, new in (('TEXT_COLUMNS = ("sentence",)', f'TEXT_COLUMNS = ("{TEXTS}",)'),
                     ('LABEL_COLUMN = "label"', f'LABEL_COLUMN = "{LABEL}"')):
        assert old in source
        source = source.replace(old, new)
    module.write_text(source)
    data = project / "acme_sentiment" / "data"
    (data / "train.csv").write_text(sst2_csv(real_glue, "train", 48), encoding="utf-8")
    (data / "dev.csv").write_text(sst2_csv(real_glue, "dev", 24), encoding="utf-8")
    # pip's own options pass through: no index and no build isolation keep the test offline.
    run(venv, "-m", "glue_cli", "plugins", "install", "-e", "./acme-sentiment", "--no-build-isolation",
        "--no-index", "--quiet", cwd=work)
    return project


def test_the_installed_plugin_is_listed(venv, acme):
    rows = json.loads(run(venv, "-m", "glue_cli", "plugins", "--json", cwd=acme).stdout)
    row = next(r for r in rows if r["name"] == "acme-sentiment")
    assert row["error"] is None and row["origin"] == "acme-sentiment"
    assert row["hooks"] == ["glue_register_tasks"]
    tasks = json.loads(run(venv, "-m", "glue_cli", "tasks", "--json", cwd=acme).stdout)
    task = next(t for t in tasks if t["name"] == "acme-sentiment")
    assert task["labels"] == ["negative", "positive"] and task["text_fields"] == [TEXTS]


def test_the_scaffolds_own_tests_pass(venv, acme):
    run(venv, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=acme)


@pytest.mark.parametrize("backend", ["torch", "tf", "flax"])
def test_glue_train_the_new_task(venv, acme, backend, tiny_model, tmp_path):
    pytest.importorskip({"torch": "torch", "tf": "tensorflow", "flax": "flax"}[backend])
    out = tmp_path / "run"
    result = run(venv, "-m", "glue_cli", "train", "acme-sentiment", "--backend", backend, "--model", tiny_model,
                 "--epochs", "1", "--batch-size", "16", "--output-dir", out, "--json", cwd=tmp_path)
    summary = json.loads(result.stdout)
    assert summary["task"] == "acme-sentiment"
    assert set(summary["eval"]["validation"]) == {"accuracy", "macro_f1", "combined_score"}
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    # The dev rows the model was evaluated on are the filled-in CSV's.
    predictions = (out / "eval_predictions" / "validation.tsv").read_text().splitlines()
    assert len(predictions) == 1 + 24


def test_uninstall_removes_it(venv, acme, tmp_path):
    run(venv, "-m", "glue_cli", "plugins", "uninstall", "acme-sentiment", "-y", cwd=tmp_path)
    rows = json.loads(run(venv, "-m", "glue_cli", "plugins", "--json", cwd=tmp_path).stdout)
    assert "acme-sentiment" not in {r["name"] for r in rows}
    failed = run(venv, "-m", "glue_cli", "plugins", "uninstall", "--yes", "acme-sentiment", cwd=tmp_path,
                 check=False)
    # pip alone would only warn and exit 0; glue says the name matches nothing installed.
    assert failed.returncode == 2
    assert "No installed plugin or plugin package is named 'acme-sentiment'" in failed.stderr
