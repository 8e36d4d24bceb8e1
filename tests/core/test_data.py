from pathlib import Path

import numpy as np
import pytest

from glue_cli.data.glue_folder import read_glue_split
from glue_cli.errors import DataError
from glue_plugins.glue_tasks import TASKS

TASK = {t.name: t for t in TASKS}


def write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_real_mrpc_bom_header_and_quotes_kept(real_glue):
    train = read_glue_split(TASK["mrpc"], real_glue / "MRPC", "train")
    assert len(train) == 3668
    assert train.texts[0][0].startswith('Amrozi accused his brother , whom he called " the witness "')
    assert set(np.unique(train.labels)) == {0, 1}
    dev = read_glue_split(TASK["mrpc"], real_glue / "MRPC", "validation")
    assert len(dev) == 408
    assert dev.labels.mean() == pytest.approx(279 / 408)  # majority class: 0.684


def test_real_cola_has_no_header(real_glue):
    dev = read_glue_split(TASK["cola"], real_glue / "CoLA", "validation")
    assert len(dev) == 1043
    assert dev.texts[0] == ("The sailors rode the breeze clear of the rocks.",)


def test_test_split_keeps_the_index_column(real_glue):
    test = read_glue_split(TASK["mrpc"], real_glue / "MRPC", "test")
    assert test.labels is None
    assert test.ids[:3] == ["0", "1", "2"] and len(test) == 1725


HEADER = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"


def test_wrong_field_count_names_file_and_line(tmp_path):
    path = write(tmp_path, "train.tsv", HEADER + "1\t1\t2\ta\tb\n0\t3\t4\tonly four\n")
    with pytest.raises(DataError, match=rf"{path}:3: expected 5 tab-separated fields, found 4"):
        read_glue_split(TASK["mrpc"], tmp_path, "train")


def test_unknown_label_names_file_and_line(tmp_path):
    write(tmp_path, "train.tsv", HEADER + "1\t1\t2\ta\tb\n2\t3\t4\tc\td\n")
    with pytest.raises(DataError, match=r"train.tsv:3: unknown label '2' for mrpc"):
        read_glue_split(TASK["mrpc"], tmp_path, "train")


def test_not_utf8_names_the_line(tmp_path):
    write(tmp_path, "train.tsv", HEADER.encode() + b"1\t1\t2\ta\tb\n0\t1\t2\tcaf\xe9\tb\n")
    with pytest.raises(DataError, match=r"train.tsv:3: not UTF-8"):
        read_glue_split(TASK["mrpc"], tmp_path, "train")


def test_empty_split_and_missing_file(tmp_path):
    write(tmp_path, "train.tsv", HEADER)
    with pytest.raises(DataError, match="the train split is empty"):
        read_glue_split(TASK["mrpc"], tmp_path, "train")
    with pytest.raises(DataError, match="Missing data file .*dev.tsv"):
        read_glue_split(TASK["mrpc"], tmp_path, "validation")


def test_missing_column(tmp_path):
    write(tmp_path, "train.tsv", "Quality\tleft\tright\n1\ta\tb\n")
    with pytest.raises(DataError, match="no column '#1 String'"):
        read_glue_split(TASK["mrpc"], tmp_path, "train")


def test_a_csv_layout_file_is_standard_csv(tmp_path):
    from glue_cli.data.tasks import GlueLayout, Task

    task = Task(name="csvtask", text_fields=("text",), labels=("no", "yes"), metrics=("accuracy",),
                glue=GlueLayout("X", {"train": "train.csv", "validation": "dev.tsv"}, ("text",), "label"))
    write(tmp_path, "train.csv", 'text,label\n"one, with a comma",yes\n\n"two ""quoted""\nlines",no\n')
    split = read_glue_split(task, tmp_path, "train")
    assert split.texts == [("one, with a comma",), ('two "quoted"\nlines',)]
    assert split.labels.tolist() == [1, 0]
    write(tmp_path, "train.csv", 'text,label\n"a, b",yes\n"c",no,extra\n')
    with pytest.raises(DataError, match=rf"{tmp_path / 'train.csv'}:3: expected 2 comma-separated fields, found 3"):
        read_glue_split(task, tmp_path, "train")
    # Any other name keeps the GLUE convention: tabs, quotes are text.
    write(tmp_path, "dev.tsv", 'text\tlabel\n"a, b\tyes\n')
    assert read_glue_split(task, tmp_path, "validation").texts == [('"a, b',)]
