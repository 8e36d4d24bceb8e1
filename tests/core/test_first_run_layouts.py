"""glue data fetch's writer for the tasks whose hub data the tests do not rebuild (QQP, MNLI, RTE,
QNLI, WNLI): rows read from a GLUE folder, written back by ``fetch.glue_file_text``, give the same
header (or file) and read back the same."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import glue_fixtures
from glue_cli.data import fetch
from glue_cli.data.glue_folder import read_glue_split
from glue_cli.plugins.manager import get_tasks


def round_trip(name: str, source: Path, tmp_path: Path) -> list[tuple[Path, Path]]:
    """Every split file of task ``name`` under ``source`` rewritten under ``tmp_path``; (original, written) pairs."""
    task = get_tasks().get(name)
    pairs = []
    for split, file in task.glue.files.items():
        original = Path(os.path.normpath(source / task.glue.folder / file))
        if not original.is_file():
            continue
        read = read_glue_split(task, source / task.glue.folder, split)
        written = fetch.target_path(task, tmp_path, split)
        written.parent.mkdir(parents=True, exist_ok=True)
        written.write_bytes(fetch.glue_file_text(task, read)[0].encode("utf-8"))
        again = read_glue_split(task, tmp_path / task.glue.folder, split)
        assert again.texts == read.texts and again.ids == read.ids
        assert (again.labels is None and read.labels is None) or np.array_equal(again.labels, read.labels)
        pairs.append((original, written))
    return pairs


@pytest.mark.parametrize("name", ["qqp", "mnli", "rte"])
def test_headers_and_file_names_follow_the_glue_download(name, tmp_path):
    source = glue_fixtures.glue_folder(tmp_path / "source")
    pairs = round_trip(name, source, tmp_path / "out")
    expected = {"qqp": 3, "mnli": 6, "rte": 3}[name]  # MNLI: five files and diagnostic/diagnostic.tsv
    assert len(pairs) == expected
    for original, written in pairs:
        assert written.relative_to(tmp_path / "out") == original.relative_to(source)
        assert written.read_text().split("\n")[0] == original.read_text().split("\n")[0]


@pytest.mark.parametrize("name", ["qnli", "wnli"])
def test_files_holding_only_hub_columns_come_out_byte_for_byte(name, real_glue, tmp_path):
    pairs = round_trip(name, real_glue, tmp_path)
    assert pairs
    for original, written in pairs:
        assert written.read_bytes() == original.read_bytes(), original


def test_texts_with_tabs_or_newlines_are_flattened_and_counted():
    from glue_cli.data.glue_folder import Split

    task = get_tasks().get("sst2")
    split = Split("train", [("a\tb",), ("c\r\nd",), ("e",)], np.array([0, 1, 0]), ["0", "1", "2"], Path("x"))
    text, flattened = fetch.glue_file_text(task, split)
    assert text == "sentence\tlabel\na b\t0\nc d\t1\ne\t0\n" and flattened == 2
