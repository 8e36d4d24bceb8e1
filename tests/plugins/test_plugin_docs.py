"""docs/plugins.md cannot drift: its hook reference and contracts are checked against the code, and
its worked examples are built, installed with pip and run."""

import csv
import dataclasses
import inspect
import re

import pytest

from glue_cli.data.batching import Batch
from glue_cli.data.tasks import GlueLayout, Task
from glue_cli.plugins import hookspecs
from glue_cli.testing import CHECKS
from glue_cli.training import events
from glue_cli.training.backends import Backend, Engine, ModelSpec
from helpers import REPO, ok, pip_install_target, reset_plugins, write_files

DOC = REPO / "docs" / "plugins.md"
TEXT = DOC.read_text(encoding="utf-8")


def section(title):
    start = TEXT.index(f"\n## {title}\n")
    end = TEXT.find("\n## ", start + 1)
    return TEXT[start : end if end != -1 else None]


def hookspec_functions():
    return {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, "glue_cli_spec")}


def test_every_hook_is_documented_with_its_parameters_and_docstring():
    specs = hookspec_functions()
    assert specs, "no hookspecs found"
    documented = dict(re.findall(r"^### (glue_\w+)\((.*)\)$", section("Hook reference"), re.MULTILINE))
    assert set(documented) == set(specs)
    for name, fn in specs.items():
        assert documented[name].split(", ") == list(inspect.signature(fn).parameters), name
        assert f"> {inspect.getdoc(fn)}" in TEXT, name


def test_no_hook_is_documented_that_does_not_exist():
    mentioned = set(re.findall(r"\bglue_(?:register|on)_\w+", TEXT))
    assert mentioned <= set(hookspec_functions())


def protocol_members(protocol):
    names = set(getattr(protocol, "__annotations__", {}))
    names |= {n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")}
    return names


@pytest.mark.parametrize(
    ("title", "names"),
    [
        ("The Task contract", [f.name for f in dataclasses.fields(Task)]),
        ("The Task contract", [f.name for f in dataclasses.fields(GlueLayout)]),
        ("The Backend and Engine contracts", sorted(protocol_members(Backend))),
        ("The Backend and Engine contracts", sorted(protocol_members(Engine))),
        ("The Backend and Engine contracts", [f.name for f in dataclasses.fields(ModelSpec)]),
        ("The Backend and Engine contracts", [f.name for f in dataclasses.fields(Batch)]),
    ],
    ids=["Task", "GlueLayout", "Backend", "Engine", "ModelSpec", "Batch"],
)
def test_every_field_and_member_is_explained(title, names):
    text = section(title)
    assert names
    for name in names:
        # A table row of its own, or for Batch a mention in the prose.
        assert f"| `{name}`" in text or f"| `{name}(" in text or f"`{name}`" in text, name


def test_every_event_and_its_fields_are_listed():
    text = section("Events")
    kinds = [c for _, c in inspect.getmembers(events, inspect.isclass)
             if issubclass(c, events.Event) and c is not events.Event]
    for cls in kinds:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{cls.__name__}`")), None)
        assert row is not None, cls.__name__
        assert f"`{cls.kind}`" in row
        for field in dataclasses.fields(cls):
            assert f"`{field.name}`" in row, (cls.__name__, field.name)


def example_files():
    """The worked examples: each fenced block right after an ``<!-- file: PATH -->`` line."""
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)\n```", TEXT, re.DOTALL)
    return {path: code + "\n" for path, code in blocks}


def test_the_examples_are_complete_packages():
    files = example_files()
    assert set(files) == {
        "glue-reviews/pyproject.toml", "glue-reviews/glue_reviews/__init__.py",
        "glue-eval-csv/pyproject.toml", "glue-eval-csv/glue_eval_csv/__init__.py",
        "glue-torch-lite/pyproject.toml", "glue-torch-lite/glue_torch_lite/__init__.py",
    }
    for path, code in files.items():
        if path.endswith(".py"):
            compile(code, path, "exec")
            assert 'GLUE_CLI_API = ">=2,<3"' in code


@pytest.fixture(scope="module")
def examples_site(tmp_path_factory):
    root = write_files(tmp_path_factory.mktemp("examples"), example_files())
    return pip_install_target(tmp_path_factory.mktemp("site") / "site", root / "glue-reviews", root / "glue-eval-csv",
                              root / "glue-torch-lite")


def reviews_folder(real_glue, folder):
    """The example's CSV layout, from real SST-2 rows: review_id, body, verdict."""
    folder.mkdir()
    for split, name, n in (("train", "train.csv", 48), ("dev", "dev.csv", 24), ("dev", "test.csv", 10)):
        rows = (real_glue / "SST-2" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()[1 : n + 1]
        with open(folder / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["review_id", "body"] + ([] if name == "test.csv" else ["verdict"]))
            for i, row in enumerate(rows):
                text, label = row.split("\t")
                writer.writerow([f"r{i}", text] + ([] if name == "test.csv" else [["unhappy", "happy"][int(label)]]))
    return folder


def test_the_worked_examples_install_and_run(examples_site, monkeypatch, tiny_model, real_glue, tmp_path):
    pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(examples_site))
    rows = {r["name"]: r for r in ok("plugins", "--json").json()}
    assert rows["reviews"]["error"] is None and rows["reviews"]["hooks"] == ["glue_register_tasks"]
    assert rows["eval-csv"]["error"] is None and rows["eval-csv"]["hooks"] == ["glue_on_event"]
    task = next(t for t in ok("tasks", "--json").json() if t["name"] == "reviews")
    assert task["labels"] == ["unhappy", "happy"] and task["aliases"] == ["product-reviews"]

    folder = reviews_folder(real_glue, tmp_path / "REVIEWS")
    run = tmp_path / "run"
    summary = ok("train", "product-reviews", "--data-dir", folder, "--backend", "torch", "--model", tiny_model,
                 "--epochs", "2", "--batch-size", "16", "--do-predict", "--output-dir", run, "--json").json()
    assert set(summary["eval"]["validation"]) == {"accuracy", "f1", "combined_score"}
    # The reporter received the evaluation events: two epochs, three metrics each.
    with open(run / "evals.csv", newline="") as f:
        evals = list(csv.DictReader(f))
    assert [(r["epoch"], r["metric"]) for r in evals] == [
        (e, m) for e in ("1", "2") for m in ("accuracy", "combined_score", "f1")
    ]
    last = {r["metric"]: float(r["value"]) for r in evals if r["epoch"] == "2"}
    assert last["accuracy"] == pytest.approx(summary["eval"]["validation"]["accuracy"], abs=1e-6)
    # The task's test split was predicted under its leaderboard name, one line per review.
    predictions = (run / "predictions" / "REVIEWS.tsv").read_text().splitlines()
    assert len(predictions) == 1 + 10
    assert predictions[1].split("\t")[0] == "r0"


def test_the_worked_backend_passes_the_conformance_suite_and_trains(examples_site, monkeypatch, tiny_model,
                                                                    real_glue, tmp_path):
    """A backend written the way this page says, in a package of its own: no core file changes."""
    pytest.importorskip("torch")
    from glue_cli.api import check_backend

    monkeypatch.syspath_prepend(str(examples_site))
    reset_plugins()
    report = check_backend("torch-lite", tmp_path / "conformance")
    assert sorted(report.passed) == sorted(CHECKS) and not report.skipped
    summary = ok("train", "mrpc", "--backend", "torch-lite", "--model", tiny_model, "--epochs", "1",
                 "--max-train-samples", "32", "--max-eval-samples", "16", "--output-dir", tmp_path / "run",
                 "--json").json()
    assert summary["backend"] == "torch-lite" and set(summary["eval"]["validation"]) == {"accuracy", "f1",
                                                                                           "combined_score"}
