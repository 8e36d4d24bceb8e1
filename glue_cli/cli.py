"""The ``glue`` command: parses flags, builds a RunConfig, calls the core. Nothing else."""

from __future__ import annotations

import functools
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from glue_cli import __version__
from glue_cli.atomic import json_safe
from glue_cli.backends import install_hint
from glue_cli.config import default_of, resolve, setting, setting_with_source
from glue_cli.display import console, error_line, metrics_table
from glue_cli.errors import ConfigError, GlueError
from glue_cli.plugins import get_backends, get_plugins, get_tasks, register_commands

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="glue",
    help="Fine-tune Transformer encoders on GLUE with PyTorch, TensorFlow or JAX/Flax.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def user_errors(fn: F) -> F:
    """A GlueError or a file-system error becomes one red line and exit code 2 (``--verbose`` adds the
    traceback); Ctrl-C a short note and 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (GlueError, OSError) as exc:
            if kwargs.get("verbose"):
                traceback.print_exception(exc, file=sys.stderr)
            error_line(one_line(exc))
            raise typer.Exit(getattr(exc, "exit_code", 2)) from None
        except KeyboardInterrupt:
            error_line("Interrupted. The last checkpoint is kept: rerun with --resume to continue "
                       "(before the first checkpoint, nothing was kept: rerun the same command).")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, GlueError):
        # A full disk, a read-only folder, a path under a file: name the file, not the stack.
        where = f" {exc.filename}" if exc.filename else ""
        return f"Cannot use{where}: {exc.strerror or exc}."
    return str(exc)


def warn_broken_plugins() -> None:
    for line in get_plugins().warnings():
        console().print(f"[yellow]warning:[/] {line}", soft_wrap=True)


def emit_json(data: Any) -> None:
    # Strict JSON: a NaN metric (Pearson of constant predictions) is null, never a bare NaN.
    sys.stdout.write(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")


def d(name: str) -> str:
    """The default of a RunConfig field, for help texts."""
    return f"\\[default: {default_of(name)}]"


TaskArg = Annotated[
    str | None,
    typer.Argument(
        help="Task: mrpc, sst2, cola, ... (see glue tasks); with --train-file etc. a name for your own task "
        "\\[default: custom].",
        show_default=False,
    ),
]
SavedTaskArg = Annotated[
    str | None,
    typer.Argument(help="Task name \\[default: the task the model was trained on].", show_default=False),
]
TrainFile = Annotated[Path | None, typer.Option(help="Your own training data: .csv, .tsv, .json or .jsonl.")]
ValidationFile = Annotated[Path | None, typer.Option(help="Your own dev data (same formats).")]
TestFile = Annotated[Path | None, typer.Option(help="Your own test data, labels not needed (same formats).")]
TextFields = Annotated[
    str | None, typer.Option(help="Column(s) holding the text, comma-separated: one or two, e.g. question,answer.")
]
LabelField = Annotated[str | None, typer.Option(help="Column holding the label. \\[default: label]")]
Backend = Annotated[str | None, typer.Option("--backend", "-b", help=f"torch, tf or flax. {d('backend')}")]
Model = Annotated[
    str | None,
    typer.Option(help="Model folder, run directory or hub id. \\[default: bundled all-MiniLM-L6-v2]"),
]
DataDir = Annotated[
    Path | None, typer.Option(help="The task's GLUE folder. \\[default: $GLUE_DIR/<TASK>, else the hub nyu-mll/glue]")
]
MaxLen = Annotated[int | None, typer.Option(help=f"Truncate longer inputs. {d('max_seq_length')}")]
Json = Annotated[bool, typer.Option("--json", help="Print only the final metrics as JSON on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars nor tables.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show the frameworks' own logs.")]
Devices = Annotated[
    int | None,
    typer.Option(help="Split each batch over this many local devices (flax). \\[default: all]"),
]


@app.command()
@user_errors
def train(
    task: TaskArg = None,
    backend: Backend = None,
    model: Model = None,
    data_dir: DataDir = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(help="Run directory. \\[default: runs/<task>-<backend>-<timestamp>]"),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help=f"Training epochs. {d('epochs')}")] = None,
    batch_size: Annotated[int | None, typer.Option(help=f"Training batch size. {d('batch_size')}")] = None,
    eval_batch_size: Annotated[
        int | None, typer.Option(help=f"Evaluation batch size. {d('eval_batch_size')}")
    ] = None,
    learning_rate: Annotated[
        float | None, typer.Option("--learning-rate", "--lr", help=f"Peak AdamW rate. {d('learning_rate')}")
    ] = None,
    max_seq_length: MaxLen = None,
    warmup_ratio: Annotated[
        float | None, typer.Option(help=f"Share of steps warming up linearly. {d('warmup_ratio')}")
    ] = None,
    weight_decay: Annotated[
        float | None, typer.Option(help=f"AdamW decoupled weight decay. {d('weight_decay')}")
    ] = None,
    max_grad_norm: Annotated[
        float | None, typer.Option(help=f"Clip gradients to this global norm. {d('max_grad_norm')}")
    ] = None,
    seed: Annotated[int | None, typer.Option(help=f"Seed for the head, dropout and order. {d('seed')}")] = None,
    max_train_samples: Annotated[
        int | None, typer.Option(help="Use only the first N training examples.")
    ] = None,
    max_eval_samples: Annotated[
        int | None, typer.Option(help="Use only the first N evaluation examples.")
    ] = None,
    amp: Annotated[
        bool | None, typer.Option("--amp", help="Mixed precision: fp16 on a GPU, bf16 on a CPU.")
    ] = None,
    precision: Annotated[
        str | None, typer.Option(help="Exactly this precision: fp32, bf16 or fp16 (overrides --amp).")
    ] = None,
    xla: Annotated[
        bool | None, typer.Option("--xla", help="Compile the steps (torch.compile, XLA, jit).")
    ] = None,
    devices: Devices = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output directory.")
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --output-dir from its checkpoint.")
    ] = False,
    train_file: TrainFile = None,
    validation_file: ValidationFile = None,
    test_file: TestFile = None,
    text_fields: TextFields = None,
    label_field: LabelField = None,
    labels: Annotated[
        str | None,
        typer.Option(help="Class names in order, comma-separated. \\[default: sorted labels of --train-file]"),
    ] = None,
    do_predict: Annotated[
        bool, typer.Option("--do-predict", help="After training, write test predictions to <run>/predictions.")
    ] = False,
    report_to: Annotated[
        str | None,
        typer.Option(help="Also report to these, comma-separated: tensorboard (<run>/tensorboard), a plugin's "
                     "reporter, or none. Console and history.jsonl always run."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="JSON or TOML file of settings (flags win).")
    ] = None,
    json_out: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Fine-tune a model on TASK (or on your own files), evaluate on dev after each epoch, save the run."""
    from glue_cli import trainer

    flags = {k: v for k, v in locals().items() if k not in {"config", "json_out", "quiet", "verbose"}}
    flags["overwrite"] = overwrite or None
    flags["resume"] = resume or None
    flags["do_predict"] = do_predict or None
    for key in ("data_dir", "output_dir", "train_file", "validation_file", "test_file"):
        flags[key] = str(flags[key]) if flags[key] is not None else None
    run_config = resolve(flags, config)
    warn_broken_plugins()
    summary = trainer.train(run_config, verbose=verbose, quiet=quiet)
    if json_out:
        emit_json(summary)


def files_given(
    validation_file: Path | None = None, test_file: Path | None = None, text_fields: str | None = None,
    label_field: str | None = None,
) -> Any:
    from glue_cli.custom import Files
    from glue_cli.trainer import split_list

    return Files(
        None, str(validation_file) if validation_file else None, str(test_file) if test_file else None,
        split_list(text_fields), label_field,
    )


@app.command("eval")
@user_errors
def evaluate(
    task: SavedTaskArg = None,
    model: Annotated[str, typer.Option(help="Run directory or model folder to evaluate.")] = "",
    backend: Backend = None,
    data_dir: DataDir = None,
    validation_file: ValidationFile = None,
    text_fields: TextFields = None,
    label_field: LabelField = None,
    max_seq_length: MaxLen = None,
    batch_size: Annotated[int, typer.Option(help="Evaluation batch size.")] = 64,
    max_eval_samples: Annotated[int | None, typer.Option(help="Use only the first N examples.")] = None,
    amp: Annotated[bool, typer.Option("--amp", help="Mixed precision.")] = False,
    precision: Annotated[str | None, typer.Option(help="fp32, bf16 or fp16.")] = None,
    devices: Devices = None,
    json_out: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Evaluate a saved model on TASK's dev split(s), or on --validation-file."""
    from glue_cli import inference

    seq_length = checked_inference(model, batch_size, max_seq_length, max_eval_samples, devices, precision)
    warn_broken_plugins()
    request = inference.Request(
        task, require_model(model), backend or setting("backend"), str(data_dir) if data_dir else None,
        files_given(validation_file, None, text_fields, label_field),
        seq_length, batch_size, max_eval_samples, amp, precision, verbose,
        devices,
    )
    results = inference.evaluate(request)
    if not quiet:
        console().print(metrics_table(results, title=f"{task or model} on {request.backend}"))
    if json_out:
        emit_json(results)


@app.command("predict")
@user_errors
def predict(
    task: SavedTaskArg = None,
    model: Annotated[str, typer.Option(help="Run directory or model folder to predict with.")] = "",
    backend: Backend = None,
    data_dir: DataDir = None,
    test_file: TestFile = None,
    text_fields: TextFields = None,
    output_dir: Annotated[
        Path | None, typer.Option(help="Where the <TASK>.tsv files go. \\[default: <run>/predictions]")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing prediction files.")] = False,
    make_zip: Annotated[
        bool, typer.Option("--zip", help="Bundle every .tsv of the output folder into submission.zip.")
    ] = False,
    max_seq_length: MaxLen = None,
    batch_size: Annotated[int, typer.Option(help="Prediction batch size.")] = 64,
    amp: Annotated[bool, typer.Option("--amp", help="Mixed precision.")] = False,
    precision: Annotated[str | None, typer.Option(help="fp32, bf16 or fp16.")] = None,
    devices: Devices = None,
    json_out: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Write TASK's test-set predictions in the GLUE leaderboard format (<NAME>.tsv: index, prediction)."""
    from glue_cli import inference

    seq_length = checked_inference(model, batch_size, max_seq_length, None, devices, precision)
    warn_broken_plugins()
    request = inference.Request(
        task, require_model(model), backend or setting("backend"), str(data_dir) if data_dir else None,
        files_given(None, test_file, text_fields), seq_length, batch_size,
        None, amp, precision, verbose, devices,
    )
    written = inference.predict(request, output_dir, overwrite, make_zip)
    if not quiet:
        for split, path in written.items():
            console().print(f"{split}: {path}", soft_wrap=True, highlight=False)
    if json_out:
        emit_json(written)


def checked_inference(
    model: str, batch_size: int, max_seq_length: int | None, max_eval_samples: int | None,
    devices: int | None, precision: str | None,
) -> int:
    """glue eval / glue predict settings checked before any work; the --max-seq-length to use."""
    from glue_cli.validation import check_inference

    seq_length, source = setting_with_source("max_seq_length", max_seq_length)
    check_inference(batch_size, "--batch-size", seq_length, source, max_eval_samples, devices, precision,
                    require_model(model))
    return int(seq_length)


def require_model(model: str) -> str:
    if not model:
        raise ConfigError("Missing option --model.", "Pass the run directory or model folder to use.")
    return model


plugins_app = typer.Typer(
    help="Installed plugins (the listing without a sub-command); create, install and remove plugins.",
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(plugins_app, name="plugins")


PluginsJson = Annotated[bool, typer.Option("--json", help="Print the list as JSON on stdout.")]


def show_plugins(json_out: bool) -> None:
    infos = get_plugins().infos
    get_tasks(), get_backends()  # a hook that raises is recorded on its plugin
    rows: list[dict[str, Any]] = [
        {"name": i.name, "version": i.version, "origin": i.origin, "module": i.module,
         "hooks": i.hooks, "error": i.error}
        for i in infos
    ]
    if json_out:
        emit_json(rows)
        return
    table = Table("plugin", "version", "origin", "hooks", "status")
    for r in rows:
        status = "[red]error[/] (below)" if r["error"] else "[green]ok[/]"
        table.add_row(r["name"], r["version"] or "-", r["origin"], ", ".join(r["hooks"]), status)
    console().print(table)
    # Errors in full, one line each: a table cell would cut them to the terminal's width.
    for r in rows:
        if r["error"]:
            console().print(f"[red]{escape(r['name'])}:[/] {escape(r['error'])}", soft_wrap=True, highlight=False)


@plugins_app.callback(invoke_without_command=True)
@user_errors
def plugins_root(ctx: typer.Context, json_out: PluginsJson = False) -> None:
    """Installed plugins: name, version, hooks, where from, and load errors (same as glue plugins list)."""
    if ctx.invoked_subcommand is None:
        show_plugins(json_out)


@plugins_app.command("list")
@user_errors
def list_plugins(json_out: PluginsJson = False) -> None:
    """Installed plugins: name, version, hooks, where from, and load errors."""
    show_plugins(json_out)


@plugins_app.command("new")
@user_errors
def new_plugin(
    name: Annotated[str, typer.Argument(help="The plugin's package name, e.g. acme-sentiment.", show_default=False)],
    kind: Annotated[str, typer.Option(help="task, backend or reporter.")] = "task",
    directory: Annotated[Path, typer.Option(help="Where to create the NAME folder.")] = Path("."),
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Write into an existing, non-empty NAME folder.")
    ] = False,
) -> None:
    """Create a ready-to-install plugin package in ./NAME: pyproject.toml, module, test, README."""
    from glue_cli import scaffold

    folder = scaffold.create(name, kind, directory, overwrite)
    console().print(
        f"Created the {kind} plugin {name} in {folder}. Next: edit it, then "
        f"glue plugins install -e {folder}", soft_wrap=True, highlight=False,
    )


PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@plugins_app.command("install", context_settings=PASS_THROUGH)
@user_errors
def install_plugins(
    ctx: typer.Context,
    specs: Annotated[
        list[str] | None, typer.Argument(help="Packages, as pip takes them (glue-foo, glue-foo==1.2, a path).")
    ] = None,
    editable: Annotated[
        list[str] | None, typer.Option("--editable", "-e", help="Install the plugin folder PATH in editable mode.")
    ] = None,
    upgrade: Annotated[bool, typer.Option("--upgrade", "-U", help="Upgrade to the newest version.")] = False,
) -> None:
    """Install plugins with pip, into the environment glue runs in. Other pip options pass through."""
    from glue_cli import installer

    installer.run_pip("install", installer.install_args(specs or [], editable or [], upgrade, ctx.args))


@plugins_app.command("uninstall")
@user_errors
def uninstall_plugins(
    names: Annotated[list[str], typer.Argument(help="The plugins' package names.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Uninstall plugin packages with pip, from the environment glue runs in."""
    from glue_cli import installer

    installer.run_pip("uninstall", installer.uninstall_args(names, yes))


@app.command("backends")
@user_errors
def list_backends(json_out: Json = False) -> None:
    """Backends, whether they run here (and how to install them), their devices and precisions."""
    registry = get_backends()
    rows = []
    for b in registry:
        reason = b.unavailable_reason()
        row: dict[str, Any] = {
            "name": b.name, "available": reason is None, "reason": reason,
            "install": install_hint(b), "plugin": registry.owner(b.name),
            "devices": [], "precisions": [], "amp": None,
        }
        if reason is None:
            row.update(devices=b.devices(), precisions=b.precisions(), amp=b.amp_precision())
        rows.append(row)
    if json_out:
        emit_json(rows)
        return
    table = Table("backend", "available", "devices", "precisions", "--amp", "plugin")
    for r in rows:
        ok = "[green]yes[/]" if r["available"] else f"[red]no[/] ({r['reason']}; {r['install']})"
        table.add_row(r["name"], ok, ", ".join(r["devices"]), ", ".join(r["precisions"]),
                      r["amp"] or "-", r["plugin"])
    console().print(table)


@app.command("tasks")
@user_errors
def list_tasks(json_out: Json = False) -> None:
    """Tasks: labels, metrics, evaluation splits, and which plugin provides each."""
    registry = get_tasks()
    rows = [
        {"name": t.name, "kind": "regression" if t.is_regression else "classification",
         "text_fields": list(t.text_fields), "labels": list(t.labels) if t.labels else None,
         "metrics": list(t.metrics), "eval_splits": list(t.eval_splits),
         "glue_folder": t.glue.folder if t.glue else None, "hub": t.hub_id,
         "aliases": list(t.aliases), "plugin": registry.owner(t.name), "description": t.description}
        for t in registry
    ]
    if json_out:
        emit_json(rows)
        return
    table = Table("task", "kind", "labels", "metrics", "eval splits", "plugin")
    for r in rows:
        table.add_row(r["name"], r["kind"], ", ".join(r["labels"] or ["-"]),
                      ", ".join(r["metrics"]), ", ".join(r["eval_splits"]), r["plugin"])
    console().print(table)


def version_callback(value: bool) -> None:
    if value:
        print(f"glue-cli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Fine-tune Transformer encoders on GLUE with PyTorch, TensorFlow or JAX/Flax."""


def build_app() -> typer.Typer:
    """The app with the commands plugins add."""
    register_commands(get_plugins(), app)
    return app


def main() -> None:
    build_app()(prog_name="glue")
