"""Everything a glue-cli plugin imports, in one place: ``from glue_cli.api import hookimpl, Task``.

This module is the plugin API that ``PLUGIN_API_VERSION`` versions: a name in ``__all__`` keeps
its meaning within a major version, while the modules it comes from may move. Plugins (glue-cli's
own ``glue_plugins`` too) import from here only; ``tests/test_plugin_api.py`` checks that.
Importing it loads no deep-learning framework.
"""

from __future__ import annotations

from glue_cli import PLUGIN_API_VERSION
from glue_cli.cachedir import glue_cache_dir
from glue_cli.data.batching import COMPILED_PADDING, Batch, Padding
from glue_cli.data.glue_folder import Split, read_glue_split
from glue_cli.data.tasks import GlueLayout, Task
from glue_cli.display import console, metrics_table
from glue_cli.errors import (
    BackendUnavailableError,
    ConfigError,
    DataError,
    GlueError,
    ModelError,
    RunDirError,
    UnknownNameError,
)
from glue_cli.plugins.hookspecs import hookimpl
from glue_cli.plugins.installation import pip_install_extra
from glue_cli.plugins.manager import get_backends, get_plugins, get_tasks
from glue_cli.runs.atomic import json_safe
from glue_cli.testing import check_backend
from glue_cli.training.backends import (
    FRAMEWORKS,
    PRECISIONS,
    Backend,
    BackendBase,
    Engine,
    ModelSpec,
    cpu_has_native_bf16,
    physical_cores,
)
from glue_cli.training.engine_base import (
    EngineBase,
    batch_labels,
    batch_targets,
    label_arguments,
    load_error,
    quiet_transformers,
    write_pretrained,
)
from glue_cli.training.events import (
    CheckpointSaved,
    Compiled,
    EpochEnded,
    EpochStarted,
    EvalEnded,
    Event,
    RunEnded,
    RunStarted,
    StepEnded,
)
from glue_cli.training.local_workers import free_port, run_local_workers, worker_failed
from glue_cli.training.optimization import OptimizerSettings, decays
from glue_cli.training.tinymodel import FAMILIES, make_tiny_bert, make_tiny_model
from glue_cli.training.weights import WEIGHTS, has_safetensors, read_safetensors
from glue_cli.training.world import World

__all__ = [
    # The version of this API, and the hook marker.
    "PLUGIN_API_VERSION",
    "hookimpl",
    # Tasks (glue_register_tasks).
    "GlueLayout",
    "Task",
    # Backends (glue_register_backends): the contracts and what an engine gets.
    "FRAMEWORKS",
    "PRECISIONS",
    "Backend",
    "Batch",
    "Padding",
    "COMPILED_PADDING",
    "Engine",
    "ModelSpec",
    "BackendBase",
    "EngineBase",
    "OptimizerSettings",
    "decays",
    "cpu_has_native_bf16",
    "physical_cores",
    # Where a backend may keep what later runs reuse (compiled steps): $GLUE_CACHE_DIR or ~/.cache/glue-cli.
    "glue_cache_dir",
    "WEIGHTS",
    "has_safetensors",
    "read_safetensors",
    # Data-parallel workers: what a backend's world() returns (rank, size, its framework's collectives).
    "World",
    # A backend's launch() whose framework has no launcher: N local worker processes, supervised.
    "run_local_workers",
    "free_port",
    "worker_failed",
    # The framework-neutral steps every engine shares (EngineBase uses them; an engine may too).
    "label_arguments",
    "quiet_transformers",
    "load_error",
    "batch_labels",
    "batch_targets",
    "write_pretrained",
    # The backend conformance suite a backend plugin's tests run, the tiny model it uses, and one of
    # each supported family (FAMILIES: bert, roberta, distilbert, albert, electra), made with numpy.
    "check_backend",
    "make_tiny_bert",
    "make_tiny_model",
    "FAMILIES",
    # Events (glue_on_event).
    "Event",
    "RunStarted",
    "EpochStarted",
    "StepEnded",
    "Compiled",
    "EvalEnded",
    "EpochEnded",
    "CheckpointSaved",
    "RunEnded",
    # Errors a user can fix: one line, exit code 2.
    "GlueError",
    "BackendUnavailableError",
    "ConfigError",
    "DataError",
    "ModelError",
    "RunDirError",
    "UnknownNameError",
    # What people read (stderr) and the results table.
    "console",
    "metrics_table",
    # Strict JSON of a value that may hold NaN/inf (written as null), as metrics.json and history.jsonl.
    "json_safe",
    # How to install an extra of glue-cli here (from a clone: the README's constraints form).
    "pip_install_extra",
    # For a plugin's tests: what glue loaded, and a task's files as glue reads them.
    "get_plugins",
    "get_tasks",
    "get_backends",
    "Split",
    "read_glue_split",
]
