"""Custom tasks from the user's CSV, TSV, JSON and JSON Lines files."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from glue_cli.data.custom import Files, infer_labels, load, read_rows
from glue_cli.errors import DataError
from helpers import ok, one_line_error, reset_plugins

torch = pytest.importorskip("torch")

WORDS = "the a movie film good bad great boring fun story plot dog cat man woman".split()


def sentence(i: int) -> str:
    return " ".join(WORDS[(i * 5 + k) % len(WORDS)] for k in range(3 + i % 4))


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def qa_rows(n: int, offset: int = 0) -> list[list]:
    # Commas, quotes and a newline inside quoted fields: CSV quoting is honoured.
    return [[f'{sentence(i + offset)}, "really"?', f"{sentence(i + offset + 1)}\nand more",
             ("pos", "neg", "meh")[i % 3]] for i in range(n)]


def load_files(**kwargs):
    reset_plugins()
    return load("custom", Files(**kwargs), tuple(r for r in ("train", "validation", "test") if kwargs.get(r)))


def test_csv_quoting_labels_sorted_and_ids(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["question", "answer", "label"], qa_rows(9))
    task, splits = load_files(train=str(train), text_fields=("question", "answer"))
    assert task.labels == ("meh", "neg", "pos") and task.metrics == ("accuracy", "macro_f1")
    assert splits["train"].texts[0] == (f'{sentence(0)}, "really"?', f"{sentence(1)}\nand more")
    assert list(splits["train"].labels[:3]) == [2, 1, 0]
    assert splits["train"].ids[:2] == ["0", "1"]


def test_labels_option_sets_the_order_and_numbers_sort_as_numbers(tmp_path):
    train = write_csv(tmp_path / "t.csv", ["text", "label"], [[sentence(i), str(i % 11)] for i in range(22)])
    task, _ = load_files(train=str(train), text_fields=("text",))
    assert task.labels == tuple(str(i) for i in range(11))
    task, splits = load_files(train=str(train), text_fields=("text",), labels=tuple(str(i) for i in range(10, -1, -1)))
    assert task.labels[0] == "10" and splits["train"].labels[0] == 10


def test_json_list_jsonl_and_tsv_read_alike(tmp_path):
    rows = [{"idx": 10 + i, "s": sentence(i), "label": ["x", "y"][i % 2]} for i in range(6)]
    (tmp_path / "a.json").write_text(json.dumps(rows, indent=2))
    write_jsonl(tmp_path / "a.jsonl", rows)
    (tmp_path / "a.tsv").write_text("idx\ts\tlabel\n" + "".join(f"{r['idx']}\t{r['s']}\t{r['label']}\n" for r in rows))
    results = [load_files(train=str(tmp_path / f"a.{ext}"), text_fields=("s",)) for ext in ("json", "jsonl", "tsv")]
    for task, splits in results:
        assert task.labels == ("x", "y")
        assert splits["train"].texts == results[0][1]["train"].texts
        assert splits["train"].ids[0] == "10"
        assert list(splits["train"].labels) == [0, 1, 0, 1, 0, 1]


def test_a_float_label_column_is_regression(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [{"text": sentence(i), "score": i / 4} for i in range(8)])
    task, splits = load_files(train=str(path), text_fields=("text",), label_field="score")
    assert task.labels is None and task.metrics == ("pearson", "spearmanr")
    assert splits["train"].labels.dtype == np.float32 and splits["train"].labels[3] == 0.75


def test_integer_json_labels_are_classes(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": sentence(i), "label": i % 2} for i in range(4)])
    assert load_files(train=str(path), text_fields=("text",))[0].labels == ("0", "1")


def bad(tmp_path: Path, name: str, text: str | bytes, **kwargs):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DataError) as info:
        load_files(train=str(path), **{"text_fields": ("text",), **kwargs})
    return str(info.value)


@pytest.mark.parametrize("name, text, needle", [
    ("a.csv", "text,label\nx,a\ny,b,c\n", "a.csv:3: expected 2 comma-separated fields, found 3"),
    ("a.csv", "words,label\nx,a\n", "a.csv:2: no text column 'text'"),
    ("a.csv", "text,tag\nx,a\n", "a.csv:2: no label column 'label'"),
    ("a.csv", "text,label\nx,a\ny,\n", "a.csv:3: the label is empty"),
    ("a.csv", "text,label\nx,1\ny,2.5\nz,high\n", "a.csv:4: label 'high' is text"),
    ("a.csv", "text,label\n", "a.csv: the file holds no examples"),
    ("a.csv", "text,label\nx,a\ny,a\n", "holds a single class"),
    ("a.jsonl", '{"text": "x", "label": "a"}\n{"text": "y", "label": 3}\n', "a.jsonl:2: label 3 is a number"),
    ("a.jsonl", '{"text": "x", "label": "a"}\n{"text": "y", "label": "b"\n', "a.jsonl:2: invalid JSON"),
    ("a.jsonl", '{"text": "x", "label": "a"}\n["y", "b"]\n', "a.jsonl:2: expected an object"),
    ("a.json", '[\n {"text": "x", "label": "a"},\n {"text": null, "label": "b"}\n]', "a.json:3: the text 'text' is"),
    ("a.json", '{"text": "x"}', "must hold a list of objects"),
    ("a.txt", "text,label\n", "unknown file type '.txt'"),
    ("a.tsv", "text\tlabel\nx\ta\ny\n", "a.tsv:3: expected 2 tab-separated fields, found 1"),
])
def test_bad_rows_name_the_file_and_line(tmp_path, name, text, needle):
    assert needle in bad(tmp_path, name, text)


def test_not_utf8_names_the_line(tmp_path):
    assert "a.csv:3: not UTF-8" in bad(tmp_path, "a.csv", b"text,label\nx,a\ncaf\xe9,b\n")


def test_unknown_label_in_the_dev_file(tmp_path):
    train = write_csv(tmp_path / "t.csv", ["text", "label"], [["a", "x"], ["b", "y"]])
    dev = write_csv(tmp_path / "d.csv", ["text", "label"], [["a", "x"], ["b", "z"]])
    with pytest.raises(DataError, match=r"d.csv:3: unknown label 'z'"):
        load_files(train=str(train), validation=str(dev), text_fields=("text",))


def test_csv_line_numbers_count_newlines_inside_quotes(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('text,label\n"one\ntwo",a\nthree,b,extra\n')
    assert "q.csv:4: expected 2" in bad(tmp_path, "q.csv", path.read_text())
    assert [r.line for r in read_rows(write_csv(tmp_path / "r.csv", ["t"], [["a\nb"], ["c"]]))] == [2, 4]


def test_infer_labels_rejects_mixed_types_at_the_first_odd_row(tmp_path):
    rows = read_rows(write_jsonl(tmp_path / "m.jsonl", [{"label": "a"}, {"label": "b"}, {"label": 1.5}]))
    with pytest.raises(DataError, match=r"m.jsonl:3: .*mixes types"):
        infer_labels(tmp_path / "m.jsonl", rows, "label")


# -- end to end --------------------------------------------------------------------------

FAST = ("--epochs", "1", "--batch-size", "8", "--learning-rate", "1e-3")


def test_custom_csv_trains_evaluates_and_predicts(tmp_path, tiny_model):
    header = ["question", "answer", "label"]
    train = write_csv(tmp_path / "train.csv", header, qa_rows(30))
    dev = write_csv(tmp_path / "dev.csv", header, qa_rows(12, 3))
    test = write_csv(tmp_path / "test.csv", ["id", "question", "answer"], [[f"q{i}", *r[:2]] for i, r in
                                                                            enumerate(qa_rows(7, 5))])
    run = tmp_path / "run"
    summary = ok("train", "--train-file", train, "--validation-file", dev, "--test-file", test,
                 "--text-fields", "question,answer", "--model", tiny_model, "--output-dir", run,
                 "--do-predict", "--json", *FAST).json()
    assert summary["task"] == "custom"
    assert set(summary["eval"]["validation"]) == {"accuracy", "macro_f1", "combined_score"}
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "meh", "1": "neg", "2": "pos"}
    assert config["glue_task"]["text_fields"] == ["question", "answer"]
    lines = (run / "predictions" / "custom.tsv").read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 8
    assert all(line.split("\t")[1] in {"meh", "neg", "pos"} for line in lines[1:])
    assert [line.split("\t")[0] for line in lines[1:]] == [f"q{i}" for i in range(7)]
    # eval needs neither the task name nor the fields: the model recorded them
    evaluated = ok("eval", "--model", run, "--validation-file", dev, "--json", "-q").json()
    assert evaluated["validation"] == pytest.approx(summary["eval"]["validation"], abs=1e-6)
    out = tmp_path / "preds"
    ok("predict", "--model", run, "--test-file", test, "--output-dir", out, "-q")
    assert (out / "custom.tsv").read_text() == (run / "predictions" / "custom.tsv").read_text()


def test_custom_jsonl_regression_trains_end_to_end(tmp_path, tiny_model):
    rows = [{"text": sentence(i), "score": round((i % 7) * 0.7, 2)} for i in range(40)]
    train = write_jsonl(tmp_path / "train.jsonl", rows[:32])
    dev = write_jsonl(tmp_path / "dev.jsonl", rows[32:])
    summary = ok("train", "my-scores", "--train-file", train, "--validation-file", dev, "--text-fields", "text",
                 "--label-field", "score", "--model", tiny_model, "--output-dir", tmp_path / "run", "--json",
                 *FAST).json()
    assert summary["task"] == "my-scores"
    assert set(summary["eval"]["validation"]) == {"pearson", "spearmanr", "combined_score"}
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert len(config["id2label"]) == 1 and config["problem_type"] == "regression"
    assert config["glue_task"]["labels"] is None
    evaluated = ok("eval", "my-scores", "--model", tmp_path / "run", "--validation-file", dev, "--json",
                   "-q").json()
    assert evaluated["validation"] == pytest.approx(summary["eval"]["validation"], abs=1e-5)


def test_custom_errors_are_one_line(tmp_path, tiny_model):
    train = write_csv(tmp_path / "t.csv", ["text", "label"], [["a", "x"], ["b", "y"], ["c", "x,y"]])
    one_line_error(glue_train(tmp_path, tiny_model, train), "No --validation-file given")
    bad_dev = write_csv(tmp_path / "d.csv", ["text", "label"], [["a", "x"], ["b", "q"]])
    one_line_error(glue_train(tmp_path, tiny_model, train, "--validation-file", bad_dev),
                   f"{bad_dev}:3: unknown label 'q'")
    one_line_error(glue_train(tmp_path, tiny_model, train, "--validation-file", bad_dev, name="mrpc"),
                   "'mrpc' is a GLUE task")
    from helpers import glue

    one_line_error(glue("train", "mrpc", "--text-fields", "text", "--model", tiny_model),
                   "--text-fields, --label-field and --labels describe your own files")


def glue_train(tmp_path, model, train, *extra, name=None):
    from helpers import glue

    return glue("train", *([name] if name else []), "--train-file", train, "--text-fields", "text",
                "--model", model, "--output-dir", tmp_path / "run", *extra)
