"""glue report: a picture of one or several runs (PNG, or an HTML page with it and the settings that differ)."""

import base64
import re
import struct
import zlib

import pytest
from test_everyday_runs import fake_run

from glue_cli.runs import report
from helpers import glue, ok

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_info(data: bytes) -> tuple[int, int, dict[str, str]]:
    """Width, height and the text chunks of a PNG, read without any image library."""
    assert data.startswith(PNG_MAGIC)
    pos, width, height, texts = 8, 0, 0, {}
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            texts[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            texts[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        pos += 12 + length
    return width, height, texts


@pytest.fixture
def two_runs(tmp_path):
    a = fake_run(tmp_path / "runs" / "mrpc-torch-lr2e-5", f1=(0.70, 0.80), start=1000)
    b = fake_run(tmp_path / "runs" / "mrpc-torch-lr1e-4", lr=1e-4, f1=(0.81, 0.79), start=2000)
    return a, b


def test_png_of_two_runs_names_both(two_runs, tmp_path):
    result = ok("report", *two_runs, "--output", tmp_path / "out" / "report.png")
    png = (tmp_path / "out" / "report.png").read_bytes()
    width, height, texts = png_info(png)
    assert width >= 800 and height >= 600 and 20_000 < len(png) < 1_000_000
    assert "mrpc-torch-lr2e-5" in texts["Description"] and "mrpc-torch-lr1e-4" in texts["Description"]
    assert "report.png" in result.stderr and result.stdout == ""


def test_html_holds_the_picture_the_runs_and_the_settings_that_differ(two_runs, tmp_path):
    ok("report", *two_runs)  # default: ./report.html
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    image = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert image and png_info(base64.b64decode(image.group(1)))[0] >= 800
    assert page.count("mrpc-torch-lr2e-5") >= 2 and page.count("mrpc-torch-lr1e-4") >= 2
    differ = page[page.index("Settings that differ"):]
    assert "learning_rate" in differ and "<td>2e-5</td>" in differ and "<td>1e-4</td>" in differ
    assert "batch_size" not in differ  # the same in both runs
    assert "validation f1 0.8100 (epoch 1)" in page  # the second run's best


def test_a_folder_of_runs_is_every_run_in_it(two_runs, tmp_path):
    ok("report", tmp_path / "runs", "-o", tmp_path / "all.png")
    assert "mrpc-torch-lr1e-4" in png_info((tmp_path / "all.png").read_bytes())[2]["Description"]


def test_mistakes_are_one_line(two_runs, tmp_path):
    assert "Name a .html or .png file" in glue("report", two_runs[0], "-o", tmp_path / "r.pdf").stderr
    missing = glue("report", tmp_path / "nope")
    assert missing.exit_code == 2 and "No run directory" in missing.stderr
    empty = fake_run(tmp_path / "empty", done=0, finished=False, checkpoint=False)
    (empty / "history.jsonl").write_text("")
    assert "has no training history" in glue("report", empty).stderr


def test_without_matplotlib_the_hint_is_the_report_extra(two_runs, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = glue("report", two_runs[0])
    assert result.exit_code == 2 and '".[report]"' in result.stderr


def test_differences_flatten_versions_and_skip_the_output_dir(two_runs):
    runs = report.collect_runs(list(two_runs))
    differ = report.config_differences(runs)
    assert set(differ) == {"learning_rate"}
