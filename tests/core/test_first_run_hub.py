"""The first run without a GLUE download: the hub path, glue data fetch / list, and the offline line.

No network: the hub is a local folder shaped like ``nyu-mll/glue`` (tests/hub_folder.py), built
from the real GLUE files and read through ``GLUE_HUB_DATASET``, the same ``datasets.load_dataset``
call that reads the hub.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from glue_cli.data.glue_folder import Split, read_glue_split
from glue_cli.plugins.manager import get_tasks
from helpers import glue, ok
from hub_folder import CONFIGS, build_hub_folder

datasets = pytest.importorskip("datasets")

TASKS = ("mrpc", "sst2", "stsb", "cola")
SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="session")
def hub_glue(real_glue: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hub_folder(tmp_path_factory.mktemp("hub") / "glue", real_glue)


@pytest.fixture(scope="session")
def shared_datasets_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf-datasets")


@pytest.fixture
def hub(hub_glue: Path, shared_datasets_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No GLUE_DIR; the hub is the local copy; datasets caches in a temporary folder."""
    monkeypatch.delenv("GLUE_DIR", raising=False)
    monkeypatch.setenv("GLUE_HUB_DATASET", str(hub_glue))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", shared_datasets_cache)
    return hub_glue


def task(name: str):
    return get_tasks().get(name)


def assert_same_split(a: Split, b: Split) -> None:
    assert len(a) == len(b) and a.texts == b.texts and a.ids == b.ids
    if a.labels is None or b.labels is None:
        assert a.labels is None and b.labels is None
    else:
        assert a.labels.dtype == b.labels.dtype and np.array_equal(a.labels, b.labels)


# -- the hub path reads what the GLUE folder holds -----------------------------------------


@pytest.mark.parametrize("name", TASKS)
def test_hub_rows_and_labels_equal_the_glue_folders(name, hub, real_glue):
    from glue_cli.data import sources

    t = task(name)
    read = sources.read_named_splits(t, None, list(SPLITS))  # no --data-dir, no GLUE_DIR: the hub
    for split in SPLITS:
        assert str(read[split].path).startswith(str(hub))
        assert_same_split(read[split], read_glue_split(t, real_glue / t.glue.folder, split))


def test_the_hub_folder_is_shaped_like_nyu_mll_glue(hub):
    mrpc = datasets.load_dataset(str(hub), "mrpc", split="train")
    assert mrpc.column_names == ["sentence1", "sentence2", "label", "idx"]
    assert mrpc.features["label"].names == ["not_equivalent", "equivalent"]
    assert sorted(p.name for p in (hub / "mrpc").iterdir()) == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet", "validation-00000-of-00001.parquet"]


# -- glue data fetch writes what GLUE_DIR reads -------------------------------------------


def glue_lines(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines[-1] == "":  # CoLA's dev.tsv lacks the final newline
        lines.pop()
    return [line.split("\t") for line in lines]


@pytest.mark.parametrize("name", TASKS)
def test_fetch_writes_files_glue_dir_reads_back_identically(name, hub, real_glue, tmp_path):
    ok("data", "fetch", name, "--to", tmp_path / "out")
    t = task(name)
    folder, fields, label_column, _ = CONFIGS[t.hub_config]
    on_the_hub = {*fields.values(), label_column, "index"}  # the other columns are written empty
    for split in SPLITS:
        file = t.glue.files[split]
        fetched, real = tmp_path / "out" / folder / file, real_glue / folder / file
        assert_same_split(read_glue_split(t, fetched.parent, split), read_glue_split(t, real.parent, split))
        # The layout itself: byte-order mark and header (read as utf-8, the mark stays in the first
        # field), or no header (CoLA), then the same number of tab-separated fields on every line.
        got, want = glue_lines(fetched), glue_lines(real)
        assert len(got) == len(want)
        if name == "cola" and split != "test":
            columns, rows = ["source", "label", "original_label", "sentence"], list(zip(got, want, strict=True))
        else:
            assert got[0] == want[0]
            columns, rows = want[0], list(zip(got[1:], want[1:], strict=True))
        for row_got, row_want in rows:
            assert len(row_got) == len(row_want)
            for column, a, b in zip(columns, row_got, row_want, strict=True):
                if name == "stsb" and column == label_column:
                    assert np.float32(a) == np.float32(b)
                else:
                    assert a == (b if column.lstrip("\ufeff") in on_the_hub else ""), (column, a, b)
    if name == "sst2":  # all of SST-2's columns are on the hub: the very same files
        for file in ("train.tsv", "dev.tsv", "test.tsv"):
            assert (tmp_path / "out/SST-2" / file).read_bytes() == (real_glue / "SST-2" / file).read_bytes()


def test_fetched_folder_serves_as_glue_dir_for_training_data(hub, tmp_path, monkeypatch):
    from glue_cli.data import sources

    result = ok("data", "fetch", "mrpc", "cola", "--to", tmp_path / "glue_data", "--json")
    written = result.json()
    assert set(written) == {"mrpc", "cola"} and set(written["mrpc"]) == set(SPLITS)
    assert f"export GLUE_DIR={tmp_path / 'glue_data'}" in result.stderr
    monkeypatch.setenv("GLUE_DIR", str(tmp_path / "glue_data"))
    monkeypatch.delenv("GLUE_HUB_DATASET")
    read = sources.read_named_splits(task("mrpc"), None, ["train"])
    assert read["train"].path == tmp_path / "glue_data/MRPC/train.tsv" and len(read["train"]) == 3668


def test_fetch_keeps_existing_files_unless_overwrite(hub, tmp_path):
    target = tmp_path / "out/MRPC/dev.tsv"
    target.parent.mkdir(parents=True)
    target.write_text("mine")
    result = glue("data", "fetch", "mrpc", "--to", tmp_path / "out")
    assert result.exit_code == 2 and "dev.tsv exists" in result.stderr and "--overwrite" in result.stderr
    assert target.read_text() == "mine" and not (tmp_path / "out/MRPC/train.tsv").exists()
    ok("data", "fetch", "mrpc", "--to", tmp_path / "out", "--overwrite")
    assert target.read_text(encoding="utf-8-sig").startswith("Quality\t#1 ID")


def test_fetch_of_an_unknown_task_is_one_line(hub, tmp_path):
    result = glue("data", "fetch", "mrcp", "--to", tmp_path)
    assert result.exit_code == 2 and "mrpc" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# -- the cache: a second run needs no network; glue data list -----------------------------


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-datasets"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without network and without HF_HUB_OFFLINE: the probe fails, datasets must not try."""
    from huggingface_hub import constants

    from glue_cli.data import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "reachable", lambda timeout=3.0: False)


def test_without_network_a_cached_hub_dataset_is_read_from_the_cache(hub, fresh_cache, no_network,
                                                                      monkeypatch, real_glue):
    from huggingface_hub import constants

    from glue_cli.data.hub import read_hub_split

    read_hub_split(task("mrpc"), "validation")  # the first run, which put MRPC in the cache
    # What that run would have cached had it read nyu-mll/glue itself (the folder is named like the repo):
    shutil.copytree(fresh_cache / "glue", fresh_cache / "nyu-mll___glue")
    monkeypatch.delenv("GLUE_HUB_DATASET")
    split = read_hub_split(task("mrpc"), "validation")
    assert split.path == Path("hf://datasets/nyu-mll/glue/mrpc/validation")
    assert_same_split(split, read_glue_split(task("mrpc"), real_glue / "MRPC", "validation"))
    assert datasets.config.HF_HUB_OFFLINE is False and constants.HF_HUB_OFFLINE is False  # put back


@pytest.mark.parametrize("network", ["HF_HUB_OFFLINE=1", "no network"])
def test_no_data_offline_is_one_line_naming_the_three_ways_out(network, fresh_cache, monkeypatch, request):
    monkeypatch.delenv("GLUE_DIR", raising=False)
    if network == "no network":
        request.getfixturevalue("no_network")
    result = glue("train", "mrpc")
    assert result.exit_code == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    reason = "hub is offline (HF_HUB_OFFLINE=1)" if network != "no network" else "cannot be reached (no network)"
    for part in (reason, "not in the datasets cache", "GLUE_DIR=", "--data-dir", "glue data fetch mrpc"):
        assert part in lines[0], (part, lines[0])


def test_fetch_offline_without_the_cache_is_one_line(fresh_cache, tmp_path):
    result = glue("data", "fetch", "mrpc", "--to", tmp_path / "out")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "hub is offline" in result.stderr and "GLUE_HUB_DATASET" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_hub_dataset_override_that_is_not_a_folder_is_one_line(monkeypatch, tmp_path):
    monkeypatch.delenv("GLUE_DIR", raising=False)
    monkeypatch.setenv("GLUE_HUB_DATASET", str(tmp_path / "nowhere"))
    result = glue("train", "mrpc")
    assert result.exit_code == 2 and "GLUE_HUB_DATASET" in result.stderr and "no such folder" in result.stderr


def test_data_list_shows_the_cached_configs_and_glue_dir(hub, fresh_cache, real_glue, monkeypatch):
    assert ok("data", "list", "--json").json() == []
    ok("data", "fetch", "mrpc", "--to", "glue_data")
    rows = ok("data", "list", "--json").json()
    assert [(r["task"], r["splits"]) for r in rows] == [("mrpc", {"train": 3668, "validation": 408, "test": 1725})]
    assert rows[0]["source"] == f"datasets cache ({hub}, mrpc)"
    assert Path(rows[0]["path"]).is_relative_to(fresh_cache) and rows[0]["bytes"] > 0
    monkeypatch.setenv("GLUE_DIR", str(real_glue))
    rows = ok("data", "list", "--json").json()
    mrpc = [r for r in rows if r["task"] == "mrpc" and r["source"] == "GLUE_DIR"]
    assert mrpc and mrpc[0]["path"] == str(real_glue / "MRPC")
    assert mrpc[0]["splits"] == {"train": None, "validation": None, "test": None}
    table = ok("data", "list").stdout  # a listing: on stdout, like glue tasks
    assert "datasets cache" in table and "GLUE_DIR" in table



# -- glue train mrpc with no GLUE download -------------------------------------------------

FAST = ("--max-train-samples", "32", "--max-eval-samples", "24", "--batch-size", "16", "--epochs", "1",
        "--learning-rate", "1e-3", "--json")


def test_train_mrpc_end_to_end_from_the_hub_equals_training_from_glue_dir(hub, tiny_model, real_glue,
                                                                           tmp_path, monkeypatch):
    result = ok("train", "mrpc", "--model", tiny_model, "--output-dir", tmp_path / "hub-run", *FAST)
    assert "Generating" not in result.stderr and "examples/s]" not in result.stderr  # no datasets bars
    from_hub = result.json()
    assert (tmp_path / "hub-run/model/model.safetensors").is_file()
    monkeypatch.setenv("GLUE_DIR", str(real_glue))
    from_folder = ok("train", "mrpc", "--model", tiny_model, "--output-dir", tmp_path / "glue-run", *FAST).json()
    assert from_hub["eval"] == from_folder["eval"]
