"""Readers refuse what would train to garbage (NaN labels) in every format, and never crash."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glue_cli.data.custom import Files, read_rows, split_from_rows
from glue_cli.data.custom import load as load_custom
from glue_cli.data.glue_folder import read_glue_split
from glue_cli.data.tasks import GlueLayout, Task
from glue_cli.errors import DataError

REGRESSION_FILES = {
    "jsonl": '{"text": "a b", "label": 0.5}\n{"text": "c d", "label": NaN}\n',
    "json": '[{"text": "a b", "label": 0.5}, {"text": "c d", "label": Infinity}]',
    "csv": "text,label\na b,0.5\nc d,nan\n",
    "tsv": "text\tlabel\na b\t0.5\nc d\tinf\n",
}


@pytest.mark.parametrize("fmt", sorted(REGRESSION_FILES))
def test_non_finite_regression_labels_are_refused_in_every_format(tmp_path, fmt):
    path = tmp_path / f"train.{fmt}"
    path.write_text(REGRESSION_FILES[fmt])
    with pytest.raises(DataError, match=r"not a finite number") as info:
        load_custom("scores", Files(str(path), text_fields=("text",)), ("train",))
    line = 1 if fmt == "json" else 2 if fmt == "jsonl" else 3
    assert f"{path}:{line}" in info.value.message


STSB = Task("stsb-like", ("sentence1", "sentence2"), None, ("pearson",),
            glue=GlueLayout("X", {"train": "train.tsv"}, ("sentence1", "sentence2"), "score"))


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity"])
def test_non_finite_glue_scores_are_refused_with_file_and_line(tmp_path, value):
    (tmp_path / "train.tsv").write_text(f"sentence1\tsentence2\tscore\na\tb\t1.0\nc\td\t{value}\n")
    with pytest.raises(DataError, match=r"train.tsv:3: label .* not a finite number"):
        read_glue_split(STSB, tmp_path, "train")


def test_a_glue_field_longer_than_csv_allows(tmp_path):
    long = "word " * 40_000  # 200,000 characters: over csv's 131,072 cap
    (tmp_path / "train.tsv").write_text(f"sentence1\tsentence2\tscore\n{long}\tb\t1.0\n")
    split = read_glue_split(STSB, tmp_path, "train")
    assert split.texts[0][0] == long


def test_bare_cr_line_endings(tmp_path):
    (tmp_path / "train.tsv").write_bytes(b"sentence1\tsentence2\tscore\ra\tb\t1.0\rc\td\t2.5\r")
    split = read_glue_split(STSB, tmp_path, "train")
    assert split.texts == [("a", "b"), ("c", "d")] and list(split.labels) == [1.0, 2.5]
    (tmp_path / "t.tsv").write_bytes(b"text\tlabel\ra b\t0.5\rc d\t1.5\r")
    assert len(read_rows(tmp_path / "t.tsv")) == 2


def test_a_long_csv_field(tmp_path):
    long = "x" * 200_000
    (tmp_path / "t.csv").write_text(f'text,label\n"{long}",1\n')
    assert read_rows(tmp_path / "t.csv")[0].values["text"] == long


# -- fuzzing the readers: rows, or a DataError naming the file; never anything else --------

FRAGMENTS = st.sampled_from(["\t", ",", '"', "\n", "\r", "\r\n", "[", "]", "{", "}", ":", "nan", "label", "text",
                             "1", "0.5", "-", "é", "\ufeff", " ", "null", "true", "NaN", "Infinity", "\x00"])
CONTENTS = st.one_of(
    st.binary(max_size=200),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=5)), max_size=40).map(lambda parts: "".join(parts).encode()),
)


def _fuzz_file(tmp_path: Path, suffix: str, data: bytes) -> Path:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    return path


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from([".csv", ".tsv", ".json", ".jsonl"]), data=CONTENTS, regression=st.booleans())
def test_fuzzed_custom_files(tmp_path, suffix, data, regression):
    path = _fuzz_file(tmp_path, suffix, data)
    try:
        rows = read_rows(path)
        task = Task("fuzz", ("text",), None if regression else ("0", "1"), ("accuracy",))
        split_from_rows(task, path, "train", rows, "label", labelled=True)
    except DataError as exc:
        assert str(path) in exc.message


GLUE_TASK = Task("fuzzglue", ("sentence",), ("0", "1"), ("accuracy",),
                 glue=GlueLayout("X", {"train": "train.tsv", "test": "test.tsv"}, ("sentence",), "label"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=CONTENTS, split=st.sampled_from(["train", "test"]), task=st.sampled_from([GLUE_TASK, STSB]))
def test_fuzzed_glue_files(tmp_path, data, split, task):
    if split == "test" and task is STSB:
        split = "train"
    (tmp_path / f"{split}.tsv").write_bytes(data)
    try:
        read_glue_split(task, tmp_path, split)
    except DataError as exc:
        assert str(tmp_path) in exc.message
