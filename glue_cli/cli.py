"""The ``glue`` command: parses flags, builds a RunConfig, calls the core. Nothing else."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import typer.core
from rich.console import Console
from rich.markup import escape

from glue_cli import __version__
from glue_cli.config import default_of, resolve, setting, setting_with_source, to_toml
from glue_cli.display import console, error_line, listing_table, metrics_table, print_listing
from glue_cli.errors import ConfigError, GlueError
from glue_cli.plugins.manager import blame, get_backends, get_plugins, get_tasks, register_commands
from glue_cli.runs.atomic import json_safe
from glue_cli.training.bench import DEFAULT_MODES as DEFAULT_BENCH_MODES

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="glue",
    help="Fine-tune Transformer encoders on GLUE with PyTorch, TensorFlow or JAX/Flax.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def user_errors(fn: F) -> F:
    """A GlueError or a file-system error becomes one red line and exit code 2 (``--verbose`` adds the
    traceback); a plugin's exception one line naming the plugin and exit code 1 (the traceback with
    --verbose); Ctrl-C a short note and 130."""
    has_verbose = "verbose" in inspect.signature(fn).parameters

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
        except (typer.Exit, typer.Abort, typer.TyperException):  # Typer's own signals and usage errors
            raise
        except Exception as exc:
            switch = "--verbose" if has_verbose else "GLUE_TRACE_PLUGINS=1"
            if not plugin_failed(exc, bool(kwargs.get("verbose")), switch):
                raise  # glue's own bug: the traceback is what to report
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def plugin_failed(exc: Exception, verbose: bool, switch: str) -> bool:
    """If a plugin's code raised ``exc``: one line naming the plugin and where (the traceback first
    when ``verbose`` or GLUE_TRACE_PLUGINS), and True. False when no plugin's code raised it."""
    failure = blame(exc, get_plugins().infos)
    if failure is None:
        return False
    if verbose or os.environ.get("GLUE_TRACE_PLUGINS"):
        traceback.print_exception(exc, file=sys.stderr)
        error_line(failure.line())
    else:
        error_line(f"{failure.line()} ({switch} shows the traceback)")
    return True


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


# Panels of glue train --help beyond the main options, so the list stays readable.
STEPS = "Steps, evaluation and the best model"
OPTIM = "Optimisation"


def d(name: str) -> str:
    """The default of a RunConfig field, for help texts."""
    return f"\\[default: {default_of(name)}]"


def complete_tasks(incomplete: str) -> list[str]:
    """Shell completion of a task name (glue train mr<TAB>)."""
    from glue_cli import listing

    return listing.complete(listing.task_names(), incomplete)


def complete_backends(incomplete: str) -> list[str]:
    from glue_cli import listing

    return listing.complete(listing.backend_names(), incomplete)


TaskArg = Annotated[
    str | None,
    typer.Argument(
        help="Task: mrpc, sst2, cola, ... (see glue tasks); with --train-file etc. a name for your own task "
        "\\[default: custom].",
        show_default=False,
        autocompletion=complete_tasks,
    ),
]
SavedTaskArg = Annotated[
    str | None,
    typer.Argument(help="Task name \\[default: the task the model was trained on].", show_default=False,
                   autocompletion=complete_tasks),
]
TrainFile = Annotated[Path | None, typer.Option(help="Your own training data: .csv, .tsv, .json or .jsonl.")]
ValidationFile = Annotated[Path | None, typer.Option(help="Your own dev data (same formats).")]
TestFile = Annotated[Path | None, typer.Option(help="Your own test data, labels not needed (same formats).")]
TextFields = Annotated[
    str | None, typer.Option(help="Column(s) holding the text, comma-separated: one or two, e.g. question,answer.")
]
LabelField = Annotated[str | None, typer.Option(help="Column holding the label. \\[default: label]")]
# Its help names the installed backends, filled in when a command's help is shown (WithBackends).
BACKEND_OPTION = typer.Option(
    "--backend", "-b", help=f"torch, tf or flax. {d('backend')}", autocompletion=complete_backends
)
Backend = Annotated[str | None, BACKEND_OPTION]


class WithBackends(typer.core.TyperCommand):
    """A command whose --backend help names the backends registered here, looked up only when the help
    is shown: registering backends at start-up would cost every command, and move their warnings."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        for param in self.params:
            if param.name == "backend":
                param.help = backend_help()  # type: ignore[attr-defined]  # an Option's; Arguments have none
        super().format_help(ctx, formatter)


def backend_help() -> str:
    """``--backend``'s help: the backends installed here, whichever plugins brought them."""
    from glue_cli import listing

    try:
        names = listing.backend_names()
    except GlueError:  # two plugins claim one name: the command run will say so in one line
        return str(BACKEND_OPTION.help)
    return f"One of: {', '.join(names)} (glue backends). {d('backend')}"


Model = Annotated[
    str | None,
    typer.Option(help="Model folder, run directory or hub id. \\[default: bundled all-MiniLM-L6-v2]"),
]
Tokenizer = Annotated[
    str | None,
    typer.Option(help="Tokenizer folder or hub id, when not the model's own. \\[default: the model's]"),
]
Revision = Annotated[
    str | None,
    typer.Option(help="Branch, tag or commit of a hub id (--model, --tokenizer). \\[default: its default branch]"),
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
    typer.Option(help="Data parallel over this many local devices: flax and tf split each batch over them (tf: "
                 "MirroredStrategy; logical CPU devices without a GPU); torch starts one worker process per "
                 "device (as --nproc). \\[default: all (flax), 1 (torch, tf)]"),
]


@app.command(cls=WithBackends)
@user_errors
def train(
    task: TaskArg = None,
    backend: Backend = None,
    model: Model = None,
    tokenizer: Tokenizer = None,
    revision: Revision = None,
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
    max_steps: Annotated[
        int | None, typer.Option(help="Train this many updates (overrides --epochs; the schedule follows).",
                                 rich_help_panel=STEPS)
    ] = None,
    eval_steps: Annotated[
        int | None, typer.Option(help="Evaluate every N updates. \\[default: each epoch's end]", rich_help_panel=STEPS)
    ] = None,
    save_steps: Annotated[
        int | None, typer.Option(help="Checkpoint every N updates. \\[default: each epoch's end]",
                                 rich_help_panel=STEPS)
    ] = None,
    logging_steps: Annotated[
        int | None, typer.Option(help="Report the mean loss every N updates. \\[default: 1]", rich_help_panel=STEPS)
    ] = None,
    metric_for_best_model: Annotated[
        str | None,
        typer.Option(help="model/ keeps the best evaluation by this metric (METRIC, SPLIT/METRIC, or loss). "
                     "\\[default: the task's first metric]", rich_help_panel=STEPS),
    ] = None,
    greater_is_better: Annotated[
        bool | None,
        typer.Option("--greater-is-better/--no-greater-is-better", rich_help_panel=STEPS,
                     help="Whether a higher --metric-for-best-model is better. \\[default: yes, no for a loss]"),
    ] = None,
    early_stopping_patience: Annotated[
        int | None, typer.Option(help="Stop after N evaluations without improvement. \\[default: never]",
                                 rich_help_panel=STEPS)
    ] = None,
    gradient_accumulation_steps: Annotated[
        int | None,
        typer.Option(help=f"One update per N batches (an N x --batch-size batch). {d('gradient_accumulation_steps')}",
                     rich_help_panel=OPTIM),
    ] = None,
    lr_scheduler: Annotated[
        str | None,
        typer.Option(help=f"linear, cosine, constant or constant-with-warmup. {d('lr_scheduler')}",
                     rich_help_panel=OPTIM),
    ] = None,
    warmup_steps: Annotated[
        int | None, typer.Option(help="Warm-up updates (overrides --warmup-ratio).", rich_help_panel=OPTIM)
    ] = None,
    adam_beta1: Annotated[
        float | None, typer.Option(help=f"AdamW beta1. {d('adam_beta1')}", rich_help_panel=OPTIM)
    ] = None,
    adam_beta2: Annotated[
        float | None, typer.Option(help=f"AdamW beta2. {d('adam_beta2')}", rich_help_panel=OPTIM)
    ] = None,
    adam_epsilon: Annotated[
        float | None, typer.Option(help=f"AdamW epsilon. {d('adam_epsilon')}", rich_help_panel=OPTIM)
    ] = None,
    label_smoothing: Annotated[
        float | None, typer.Option(help=f"Label smoothing of the cross-entropy. {d('label_smoothing')}",
                                   rich_help_panel=OPTIM)
    ] = None,
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
        bool | None, typer.Option(
            "--xla", help="Compile the steps on a GPU: torch.compile (torch), XLA (tf); off on a CPU, where "
            "both are slower. flax always compiles (jit): the flag changes nothing there. `glue backends` "
            "says what it does on each.")
    ] = None,
    devices: Devices = None,
    group_by_length: Annotated[
        bool | None,
        typer.Option("--group-by-length/--no-group-by-length",
                     help="Batches of similar lengths (less padding), in a seeded order. \\[default: on]"),
    ] = None,
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
        Path | None,
        typer.Option("--config", help="JSON or TOML file of settings (flags win); a run's config.json too."),
    ] = None,
    nproc: Annotated[
        int | None,
        typer.Option(help="Train as N data-parallel worker processes (torch: through torchrun, DDP; flax: "
                     "jax.distributed; tf: MultiWorkerMirroredStrategy); --batch-size stays the global batch."),
    ] = None,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the resolved settings as a --config TOML file and exit.")
    ] = False,
    json_out: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Fine-tune a model on TASK (or on your own files), evaluate on dev after each epoch, save the run."""
    from glue_cli.training import launch, trainer

    flags = {k: v for k, v in locals().items()
             if k not in {"config", "json_out", "quiet", "verbose", "print_config", "nproc"}}
    flags["overwrite"] = overwrite or None
    flags["resume"] = resume or None
    flags["do_predict"] = do_predict or None
    for key in ("data_dir", "output_dir", "train_file", "validation_file", "test_file"):
        flags[key] = str(flags[key]) if flags[key] is not None else None
    run_config = resolve(flags, config)
    if print_config:
        typer.echo(to_toml(run_config), nl=False)
        return
    warn_broken_plugins()
    processes = launch.processes_wanted(run_config, nproc)
    if processes is not None:
        switches = [s for s, on in (("--json", json_out), ("--quiet", quiet), ("--verbose", verbose)) if on]
        code = launch.launch(run_config, processes, switches)
        if code:
            raise typer.Exit(code)
        return
    summary = trainer.train(run_config, verbose=verbose, quiet=quiet)
    if summary is None:  # a data-parallel worker: the main one prints the results
        return
    if not quiet:
        show_written(summary.get("predictions", {}), "Test predictions")
    if json_out:
        emit_json(summary)


def files_given(
    validation_file: Path | None = None, test_file: Path | None = None, text_fields: str | None = None,
    label_field: str | None = None,
) -> Any:
    from glue_cli.data.custom import Files
    from glue_cli.training.pipeline import split_list

    return Files(
        None, str(validation_file) if validation_file else None, str(test_file) if test_file else None,
        split_list(text_fields), label_field,
    )


@app.command("eval", cls=WithBackends)
@user_errors
def evaluate(
    task: SavedTaskArg = None,
    model: Annotated[str, typer.Option(help="Run directory, model folder or hub id to evaluate.")] = "",
    tokenizer: Tokenizer = None,
    revision: Revision = None,
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
    from glue_cli.training import inference

    warn_broken_plugins()  # first: a broken plugin may be why the command fails
    seq_length = checked_inference(model, batch_size, max_seq_length, max_eval_samples, devices, precision)
    request = inference.Request(
        task=task, model=require_model(model), tokenizer=tokenizer, revision=revision,
        backend=backend or setting("backend"),
        data_dir=str(data_dir) if data_dir else None,
        files=files_given(validation_file, None, text_fields, label_field),
        max_length=seq_length, batch_size=batch_size,
        max_samples=max_eval_samples, amp=amp, precision=precision, verbose=verbose, devices=devices,
    )
    task_name, results = inference.evaluate_named(request, progress=not quiet)
    if not quiet:
        console().print(f"Evaluated {escape(model)}", soft_wrap=True, highlight=False)
        console().print(metrics_table(results, title=f"{task_name} on {request.backend}"))
    if json_out:
        emit_json(results)


@app.command("predict", cls=WithBackends)
@user_errors
def predict(
    task: SavedTaskArg = None,
    model: Annotated[str, typer.Option(help="Run directory, model folder or hub id to predict with.")] = "",
    tokenizer: Tokenizer = None,
    revision: Revision = None,
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
    from glue_cli.training import inference

    warn_broken_plugins()  # first: a broken plugin may be why the command fails
    seq_length = checked_inference(model, batch_size, max_seq_length, None, devices, precision)
    request = inference.Request(
        task=task, model=require_model(model), tokenizer=tokenizer, revision=revision,
        backend=backend or setting("backend"),
        data_dir=str(data_dir) if data_dir else None, files=files_given(None, test_file, text_fields),
        max_length=seq_length, batch_size=batch_size, amp=amp,
        precision=precision, verbose=verbose, devices=devices,
    )
    written = inference.predict(request, output_dir, overwrite, make_zip, progress=not quiet)
    if not quiet:
        show_written(written)
    if json_out:
        emit_json(written)


def show_written(written: dict[str, str], title: str = "Wrote") -> None:
    """Where prediction files went, one path a line (whole, for copying)."""
    if written:
        console().print(f"{title}:", highlight=False)
    for split, path in written.items():
        console().print(f"  {split}: {escape(path)}", soft_wrap=True, highlight=False)


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


@app.command("bench")
@user_errors
def bench(
    task: Annotated[str, typer.Argument(help="Task to train on.")] = "mrpc",
    backend: Annotated[
        list[str] | None,
        typer.Option("--backend", "-b",
                     help="Backends, comma-separated or repeated. \\[default: all; those not installed say so]"),
    ] = None,
    modes: Annotated[
        str, typer.Option(help="Modes, comma-separated; each joins with + any of fp32, bf16, fp16, amp, xla.")
    ] = ",".join(DEFAULT_BENCH_MODES),
    rows: Annotated[int, typer.Option(help="Train on the first N training rows.")] = 512,
    eval_rows: Annotated[int, typer.Option(help="Evaluate on the first N dev rows (not timed).")] = 64,
    epochs: Annotated[int, typer.Option(help="Epochs per cell; the first is not timed.")] = 2,
    skip_steps: Annotated[
        int | None, typer.Option(help="Leave the first N steps out of the timing. \\[default: the first epoch]")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 32,
    max_seq_length: MaxLen = None,
    model: Model = None,
    data_dir: DataDir = None,
    seed: Annotated[int, typer.Option(help="Seed of every cell.")] = 42,
    group_by_length: Annotated[
        bool, typer.Option("--group-by-length/--no-group-by-length", help="Length-grouped batches, as glue train.")
    ] = True,
    timeout: Annotated[float | None, typer.Option(help="Give up on a cell after this many seconds.")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the machine and every cell as JSON on stdout.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Training speed of backends x modes: each cell trains the same rows in a fresh process.

    One row per cell: examples/s, real tokens/s, padding efficiency, time to first step, compiles,
    peak memory, model FLOP utilisation. Run it on an otherwise idle machine.
    """
    from glue_cli.training import bench as bench_core

    settings = bench_core.BenchSettings(
        task=task, backends=bench_core.split_names(backend), modes=bench_core.split_names([modes]), rows=rows,
        eval_rows=eval_rows, epochs=epochs, skip_steps=skip_steps, batch_size=batch_size,
        max_seq_length=max_seq_length or setting("max_seq_length"), model=model or setting("model"),
        data_dir=str(data_dir) if data_dir else None, seed=seed, group_by_length=group_by_length, timeout=timeout,
    )
    warn_broken_plugins()
    progress = (lambda line: None) if quiet else (lambda line: console().print(line, soft_wrap=True))
    report = bench_core.run(settings, progress)
    if not quiet:
        console().print(bench_core.table(report))
        for line in bench_core.notes(report):
            console().print(line, soft_wrap=True, markup=False)
    if json_out:
        emit_json(report)


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
    table = listing_table("plugin", "version", "origin", "hooks", "status", whole=("version", "origin", "status"))
    for r in rows:
        status = "[red]error[/] (below)" if r["error"] else "[green]ok[/]"
        table.add_row(escape(r["name"]), escape(r["version"] or "-"), escape(r["origin"]),
                      ", ".join(r["hooks"]), status)
    print_listing(table)
    # Errors in full, one line each: a table cell would cut them to the terminal's width.
    for r in rows:
        if r["error"]:
            Console(highlight=False).print(f"[red]{escape(r['name'])}:[/] {escape(r['error'])}", soft_wrap=True)


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
    from glue_cli.plugins import scaffold

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
    from glue_cli.plugins import installer

    installer.run_pip("install", installer.install_args(specs or [], editable or [], upgrade, ctx.args))


@plugins_app.command("uninstall")
@user_errors
def uninstall_plugins(
    names: Annotated[
        list[str],
        typer.Argument(help="Plugins: their package names, or the names glue plugins lists.", show_default=False),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Uninstall plugin packages with pip, from the environment glue runs in."""
    from glue_cli.plugins import installer

    packages = installer.distributions_to_uninstall(names, installer.plugin_distributions())
    installer.run_pip("uninstall", installer.uninstall_args(packages, yes))


@app.command("backends")
@user_errors
def list_backends(json_out: Json = False) -> None:
    """Backends, whether they run here (and how to install them), their devices and precisions."""
    from glue_cli import listing

    rows = listing.backend_rows()
    warn_broken_plugins()
    if json_out:
        emit_json(rows)
        return
    print_listing(listing.backend_table(rows))


@app.command("tasks")
@user_errors
def list_tasks(json_out: Json = False) -> None:
    """Tasks: labels, metrics, evaluation splits, and which plugin provides each."""
    from glue_cli import listing

    rows = listing.task_rows()
    warn_broken_plugins()
    if json_out:
        emit_json(rows)
        return
    print_listing(listing.task_table(rows))


@app.command("runs")
@user_errors
def list_runs(
    directory: Annotated[
        Path,
        typer.Argument(help="Folder of run directories (or one run). \\[default: runs]", show_default=False,
                       metavar="DIR"),
    ] = Path("runs"),
    json_out: Annotated[bool, typer.Option("--json", help="Print the runs as JSON on stdout.")] = False,
) -> None:
    """Runs under DIR: task, backend, precision, lr, epochs, best dev metric, time, speed, status."""
    from glue_cli.runs import runlist

    runs = runlist.find_runs(directory)
    if json_out:
        emit_json([r.to_dict() for r in runs])
        return
    if not runs:
        console().print(f"No runs in {escape(str(directory))}.", highlight=False)
        return
    print_listing(runlist.runs_table(runs, directory))


@app.command("report")
@user_errors
def report(
    runs: Annotated[
        list[Path], typer.Argument(help="Run directories, or folders of them.", show_default=False, metavar="RUN")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="report.html (picture, runs, settings that differ) or a .png.")
    ] = Path("report.html"),
) -> None:
    """Draw loss, learning rate and dev metrics of one or more runs on shared axes (needs the report extra)."""
    from glue_cli.runs.report import write_report

    written = write_report(list(runs), output)
    console().print(f"Wrote {escape(str(written))}", soft_wrap=True, highlight=False)


@app.command("env")
@user_errors
def env(json_out: Annotated[bool, typer.Option("--json", help="Print it as JSON on stdout.")] = False) -> None:
    """What to paste into a bug report: versions, Python, OS, CPU, each backend's devices, plugins."""
    from glue_cli import envinfo

    info = envinfo.collect()
    if json_out:
        emit_json(info)
        return
    print("Copy and paste this into your bug report:\n")
    print(envinfo.render(info))


data_app = typer.Typer(
    help="GLUE data on this machine: fetch it from the hub as GLUE files, list what is cached.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False,
)
app.add_typer(data_app, name="data")
DataJson = Annotated[bool, typer.Option("--json", help="Print it as JSON on stdout.")]


@data_app.command("fetch")
@user_errors
def data_fetch(
    tasks: Annotated[list[str], typer.Argument(help="Tasks to fetch: mrpc, sst2, ... (see glue tasks).",
                                               show_default=False)],
    to: Annotated[Path, typer.Option("--to", help="Folder to write <TASK>/*.tsv into (use it as GLUE_DIR).")]
    = Path("glue_data"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
    json_out: DataJson = False,
) -> None:
    """Write TASKs' hub splits (nyu-mll/glue) in the GLUE download's layout, the files GLUE_DIR reads."""
    from glue_cli.data import fetch

    registry = get_tasks()
    done = fetch.fetch([registry.get(name) for name in tasks], to, overwrite)
    for item in done:
        for split, path in item.files.items():
            console().print(f"{item.task} {split}: {path}", soft_wrap=True, highlight=False)
        if item.flattened:
            console().print(f"[yellow]warning:[/] {item.task}: {item.flattened} texts held tabs or newlines, "
                            "written as spaces (a GLUE TSV has no quoting).", soft_wrap=True)
    console().print(f"Train from these files offline: export GLUE_DIR={escape(str(to.resolve()))}",
                    soft_wrap=True, highlight=False)
    if json_out:
        emit_json({item.task: {s: str(p) for s, p in item.files.items()} for item in done})


@data_app.command("list")
@user_errors
def data_list(json_out: DataJson = False) -> None:
    """What GLUE data is here: tasks under $GLUE_DIR and hub configs in the datasets cache, and where."""
    from glue_cli.data import fetch

    found = fetch.available(list(get_tasks()))
    if json_out:
        emit_json([{"task": a.task, "source": a.source, "splits": a.splits, "path": str(a.path),
                    "bytes": a.size_bytes} for a in found])
        return
    if not found:
        console().print("No GLUE data here yet: glue train TASK or glue data fetch TASK reads it from the hub.")
        return
    # A listing, like glue tasks: on stdout, paths (what the user copies) never cut.
    table = listing_table("task", "source", "splits", "size", "where", whole=("where",))
    for a in found:
        splits = ", ".join(s if n is None else f"{s} {n}" for s, n in a.splits.items())
        table.add_row(a.task, escape(a.source), splits, f"{a.size_bytes / 1e6:.1f} MB", escape(str(a.path)))
    print_listing(table)


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
    glue = build_app()
    try:
        glue(prog_name="glue")
    except Exception as exc:  # a plugin's own command raised (user_errors wraps glue's commands)
        if not plugin_failed(exc, "--verbose" in sys.argv[1:], "GLUE_TRACE_PLUGINS=1"):
            raise
        sys.exit(1)
