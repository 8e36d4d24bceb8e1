"""The files ``glue plugins new`` writes, per plugin kind.

Placeholders, replaced as plain text: ``{{dist}}`` (distribution), ``{{module}}``, ``{{name}}``
(entry point, task or backend name), ``{{class}}`` (CamelCase of the name), ``{{api}}``
(the plugin API range the plugin declares), ``{{kind}}``.
"""

from __future__ import annotations

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{{dist}}"
version = "0.1.0"
description = "A glue-cli {{kind}} plugin"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["glue-cli"]

[project.optional-dependencies]
test = ["pytest>=8"]

# glue-cli finds its plugins through this entry-point group: "<plugin name>" = "<module>[:<object>]".
[project.entry-points.glue_cli]
"{{name}}" = "{{entry}}"

[tool.setuptools]
packages = ["{{module}}"]
'''

TASK_PACKAGE_DATA = '''
[tool.setuptools.package-data]
# The CSV files in {{module}}/data/ are installed with the module.
{{module}} = ["data/*.csv"]
'''

TASK_MODULE = '''"""The {{name}} task for glue-cli: sentence classification read from CSV files.

Fill in the four blocks marked FILL IN, put your CSV files in the data folder, then:

    glue plugins install -e .        # once; glue finds the task from then on
    glue tasks                       # {{name}} is listed
    glue train {{name}}              # or: glue train {{name}} --data-dir /elsewhere
"""

from __future__ import annotations

from pathlib import Path

from glue_cli.api import GlueLayout, Task, hookimpl

# The glue-cli plugin API versions this plugin works with (a PEP 440 range). glue-cli refuses to
# load the plugin, with a clear message, when its own API version is outside it.
GLUE_CLI_API = "{{api}}"

# --- FILL IN 1: where the files are ------------------------------------------------------------
# The folder read when `glue train {{name}}` gets no --data-dir: `data/` next to this file.
DATA_DIR = Path(__file__).parent / "data"
# One file per split, relative to that folder. Files ending in .csv are standard CSV (a header
# row, commas, "quoted, fields"). Add "test": "test.csv" (no label column needed, but an "id"
# column) to get `glue predict` and `glue train --do-predict`.
FILES = {
    "train": "train.csv",
    "validation": "dev.csv",
}

# --- FILL IN 2: the columns --------------------------------------------------------------------
# The column holding the text; two columns for sentence pairs, e.g. ("question", "answer").
TEXT_COLUMNS = ("sentence",)
# The column holding the label.
LABEL_COLUMN = "label"
# The column that identifies a row of the test file (written next to each prediction).
ID_COLUMN = "id"

# --- FILL IN 3: the labels ---------------------------------------------------------------------
# Every label value found in LABEL_COLUMN, in a fixed order: the model's class ids are positions
# in this tuple. None makes it a regression task (the label column holds numbers).
LABELS: tuple[str, ...] | None = ("negative", "positive")

# --- FILL IN 4: the metrics --------------------------------------------------------------------
# The first is the main one. Known: accuracy, f1 (two labels), macro_f1, matthews_correlation,
# pearson, spearmanr (regression).
METRICS = ("accuracy", "macro_f1") if LABELS is not None else ("pearson", "spearmanr")

TASK = Task(
    name="{{name}}",
    text_fields=TEXT_COLUMNS,
    labels=LABELS,
    metrics=METRICS,
    eval_splits=("validation",),
    test_splits=("test",) if "test" in FILES else (),
    glue=GlueLayout(
        folder="{{name}}",  # the sub-folder of $GLUE_DIR read when DATA_DIR is None
        files=FILES,
        text_columns=TEXT_COLUMNS,
        label_column=LABEL_COLUMN,
        index_column=ID_COLUMN,
    ),
    data_dir=str(DATA_DIR) if DATA_DIR is not None else None,
    description="{{name}}: sentences from CSV files (edit this description)",
)


@hookimpl
def glue_register_tasks(register):
    register(TASK)
'''

TASK_TRAIN_CSV = '''sentence,label
"a gripping, beautifully acted film",positive
the plot is thin and the jokes fall flat,negative
one of the best movies of the year,positive
a tedious mess from start to finish,negative
"warm, funny and sharp",positive
i wanted my two hours back,negative
'''

TASK_DEV_CSV = '''sentence,label
a delightful surprise,positive
"dull, dull, dull",negative
'''

TASK_TEST = '''"""Tests of the {{name}} plugin: glue plugins install -e . first, then python -m pytest"""

from pathlib import Path

import {{module}}
from glue_cli.api import get_plugins, get_tasks, read_glue_split


def test_glue_loads_the_plugin_without_error():
    info = next(i for i in get_plugins().infos if i.name == "{{name}}")
    assert info.error is None
    assert info.hooks == ["glue_register_tasks"]


def test_the_task_is_registered():
    assert get_tasks().get("{{name}}") is {{module}}.TASK


def test_every_file_of_the_task_reads():
    task = {{module}}.TASK
    for split in task.glue.files:
        rows = read_glue_split(task, Path(task.data_dir), split)
        assert len(rows) > 0
        assert all(len(texts) == len(task.text_fields) for texts in rows.texts)
'''

TASK_README = '''# {{dist}}

A glue-cli task plugin: `{{name}}`, sentence classification from CSV files.

1. Edit `{{module}}/__init__.py`: the blocks marked FILL IN name your files, columns and labels.
2. Put your CSV files in `{{module}}/data/` (`train.csv`, `dev.csv`; the ones there are examples),
   or anywhere and pass `--data-dir FOLDER` to glue.
3. Install and check:

```sh
glue plugins install -e .
glue plugins          # {{name}} is listed, status ok
glue tasks            # the {{name}} task
python -m pytest      # this plugin's tests
glue train {{name}} --backend torch
```
'''

BACKEND_MODULE = '''"""The {{name}} backend for glue-cli: a skeleton to fill in.

Until `create` builds an engine, `unavailable_reason` says the backend is not implemented, and
`glue backends` lists it as not usable. The contract: glue-cli's docs/plugins.md ("The Backend
and Engine contracts", with a complete worked engine); everything named there is imported from
glue_cli.api. BackendBase and EngineBase hold every default and every framework-neutral step:
fill in only your framework's part.
"""

from __future__ import annotations

from glue_cli.api import BackendBase, EngineBase, hookimpl

# The glue-cli plugin API versions this plugin works with (a PEP 440 range).
GLUE_CLI_API = "{{api}}"


class {{class}}Backend(BackendBase):
    """A training backend: glue's trainer owns the loop, the backend runs steps on its framework."""

    name = "{{name}}"
    # FILL IN: the framework your models run on, one of "torch", "tf", "flax" (glue_cli.api.FRAMEWORKS):
    # glue tells transformers to load only this one. Any other value is refused when glue loads the plugin.
    framework = "torch"
    # The modules that must be installed for the backend to run (checked without importing them).
    modules = ("torch",)
    # How to install what the backend needs (shown when it is not usable here).
    install_hint = "Install it with: pip install {{dist}}"
    # Batches are padded to a multiple of this length (a compiling framework wants few shapes).
    pad_multiple = 8
    # True: the last batch is padded with filler rows (weights 0) to a full batch.
    fixed_batch_rows = False

    def unavailable_reason(self):
        # FILL IN: delete this method once create() works (BackendBase checks `modules`).
        return "the {{name}} backend is not implemented yet (fill in {{module}}/__init__.py)"

    def create(self, spec):
        return {{class}}Engine(spec)


class {{class}}Engine(EngineBase):
    """FILL IN each method: docs/plugins.md shows a complete one for PyTorch."""

    def __init__(self, spec):
        super().__init__(spec, device="cpu")
        raise NotImplementedError("the {{name}} backend is not implemented yet")

    def train_step(self, batch, learning_rate):
        raise NotImplementedError

    def predict(self, batch):
        raise NotImplementedError

    def model_config(self):
        raise NotImplementedError

    def architecture(self):
        raise NotImplementedError

    def weights(self):
        raise NotImplementedError

    def state_arrays(self):
        raise NotImplementedError

    def restore_state(self, arrays):
        raise NotImplementedError


@hookimpl
def glue_register_backends(register):
    register({{class}}Backend())
'''

BACKEND_TEST = '''"""Tests of the {{name}} plugin: glue plugins install -e . first, then python -m pytest"""

import pytest

from glue_cli.api import FRAMEWORKS, Backend, check_backend, get_backends, get_plugins


def test_glue_loads_the_plugin_without_error():
    info = next(i for i in get_plugins().infos if i.name == "{{name}}")
    assert info.error is None
    assert info.hooks == ["glue_register_backends"]


def test_the_backend_follows_the_protocol():
    backend = get_backends().get("{{name}}")
    assert isinstance(backend, Backend)
    assert backend.framework in FRAMEWORKS


def test_it_says_whether_it_runs_here():
    backend = get_backends().get("{{name}}")
    reason = backend.unavailable_reason()
    assert reason is None or isinstance(reason, str)
    if reason is None:
        assert backend.devices()
        assert "fp32" in backend.precisions()


def test_it_passes_glue_cli_backend_conformance_suite():
    """Trains, predicts, saves and resumes a tiny model the way glue does, on this backend."""
    reason = get_backends().get("{{name}}").unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    check_backend("{{name}}")
'''

BACKEND_README = '''# {{dist}}

A glue-cli backend plugin: `glue train TASK --backend {{name}}`.

Fill in `{{module}}/__init__.py` (the Backend and Engine contracts are in glue-cli's
docs/plugins.md), then:

```sh
glue plugins install -e .
glue backends         # {{name}}: not usable until unavailable_reason() returns None
python -m pytest
```
'''

REPORTER_MODULE = '''"""The {{name}} reporter for glue-cli: receives every training event.

Events (all in glue_cli.api): RunStarted, EpochStarted, StepEnded, Compiled, EvalEnded, EpochEnded,
CheckpointSaved, RunEnded; each has ``kind`` and ``to_dict()``.
"""

from __future__ import annotations

import sys

from glue_cli.api import EvalEnded, RunEnded, hookimpl

# The glue-cli plugin API versions this plugin works with (a PEP 440 range).
GLUE_CLI_API = "{{api}}"


class {{class}}Reporter:
    """Prints one line per evaluation and one at the end of the run (replace with your own)."""

    def __init__(self, stream=None):
        self.stream = stream

    def write(self, line):
        print(line, file=self.stream or sys.stderr)

    @hookimpl
    def glue_on_event(self, event):
        if isinstance(event, EvalEnded):
            scores = ", ".join(f"{k}={v:.4f}" for k, v in sorted(event.metrics.items()))
            self.write(f"[{{name}}] epoch {event.epoch} {event.split}: {scores}")
        elif isinstance(event, RunEnded):
            self.write(f"[{{name}}] run finished in {event.seconds:.1f}s")


reporter = {{class}}Reporter()
'''

REPORTER_TEST = '''"""Tests of the {{name}} plugin: glue plugins install -e . first, then python -m pytest"""

from {{module}} import reporter
from glue_cli.api import (
    CheckpointSaved,
    Compiled,
    EpochEnded,
    EpochStarted,
    EvalEnded,
    RunEnded,
    RunStarted,
    StepEnded,
    get_plugins,
)


def test_glue_loads_the_plugin_without_error():
    info = next(i for i in get_plugins().infos if i.name == "{{name}}")
    assert info.error is None
    assert info.hooks == ["glue_on_event"]


def test_it_takes_every_event_of_a_run(tmp_path):
    # One of each event, in a run's order: edit what the reporter does freely, this keeps checking
    # that it copes with every event (a reporter that raises is switched off for the run).
    run = [
        RunStarted(run_dir=str(tmp_path), task="mrpc", backend="torch", device="cpu", precision="fp32",
                          model="m", epochs=1, steps_per_epoch=1, total_steps=1, train_examples=8,
                          eval_examples={"validation": 8}),
        EpochStarted(epoch=1, steps=1, first_step=0),
        StepEnded(step=1, epoch=1, loss=0.5, learning_rate=2e-5, examples=8, seconds=0.1),
        Compiled(step=1, shape=[8, 16], compiles=1),
        EpochEnded(epoch=1, seconds=1.0, train_loss=0.5, examples=8, examples_per_second=8.0),
        EvalEnded(epoch=1, split="validation", metrics={"accuracy": 0.75}, examples=8, seconds=0.5),
        CheckpointSaved(path="checkpoint", step=1, epoch=1),
        RunEnded(metrics={"validation": {"accuracy": 0.75}}, train_seconds=3.0, seconds=4.0),
    ]
    for event in run:  # the object glue hands events to
        reporter.glue_on_event(event)
'''

REPORTER_README = '''# {{dist}}

A glue-cli reporter plugin: it receives every training event.

```sh
glue plugins install -e .
glue plugins          # {{name}} is listed with the glue_on_event hook
python -m pytest
```
'''
