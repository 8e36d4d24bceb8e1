"""The console reporter: a rich progress bar per epoch, eval lines, a results table, on stderr."""

from __future__ import annotations

import time

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from glue_cli.api import (
    CheckpointSaved,
    EpochEnded,
    EpochStarted,
    EvalEnded,
    Event,
    RunEnded,
    RunStarted,
    StepEnded,
    console,
    hookimpl,
    metrics_table,
)


class ConsoleReporter:
    def __init__(self) -> None:
        self.active = False
        self.progress: Progress | None = None
        self.bar: TaskID | None = None
        self.epochs = 0
        self.epoch_start = 0.0
        self.epoch_examples = 0
        # Evaluation sends no event per batch: a spinner with the time spent says it is under way.
        self.eval_sizes: dict[str, int] = {}
        self.pending: list[str] = []
        self.spinner: Progress | None = None
        self.epoch_steps = 0

    def _start(self, e: RunStarted) -> None:
        self.active, self.epochs = not e.quiet, e.epochs
        self.eval_sizes = dict(e.eval_examples)
        if self.active:
            console().print(
                f"Fine-tuning [bold]{e.task}[/] on [bold]{e.backend}[/] ({e.device}, {e.precision}): "
                f"{e.train_examples} training examples, {e.epochs} epoch(s) of {e.steps_per_epoch} "
                f"steps -> {escape(e.run_dir)}"
            )
            if e.start_step:
                epoch = e.start_step // max(1, e.steps_per_epoch)
                console().print(
                    f"Resuming from the checkpoint at step {e.start_step} of {e.total_steps} "
                    f"(after epoch {epoch})."
                )

    def _epoch(self, e: EpochStarted) -> None:
        self.progress = Progress(
            TextColumn(f"epoch {e.epoch}/{self.epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  lr {task.fields[lr]:.2e}"),
            TextColumn("{task.fields[speed]:.1f} ex/s"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console(),
            transient=False,
        )
        self.bar = self.progress.add_task(
            "train", total=e.steps, completed=e.first_step % max(1, e.steps),
            loss=0.0, lr=0.0, speed=0.0,
        )
        self.epoch_start, self.epoch_examples, self.epoch_steps = time.perf_counter(), 0, e.steps
        self.progress.start()

    def _step(self, e: StepEnded) -> None:
        if self.progress is None or self.bar is None:
            return
        self.epoch_examples += e.examples
        elapsed = max(1e-9, time.perf_counter() - self.epoch_start)
        self.progress.update(
            # --logging-steps: an event stands for several updates, so the bar goes to the step itself.
            self.bar, completed=e.step - (e.epoch - 1) * self.epoch_steps, loss=e.loss, lr=e.learning_rate,
            speed=self.epoch_examples / elapsed,
        )

    def _stop_bar(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _evaluating(self) -> None:
        """Show that the next pending split is being evaluated (until its EvalEnded)."""
        self._stop_spinner()
        if not self.pending:
            return
        split = self.pending.pop(0)
        if not console().is_terminal:  # a log file gets the result line, not a spinner's last frame
            return
        self.spinner = Progress(
            SpinnerColumn(), TextColumn(f"evaluating on {split} ({self.eval_sizes.get(split, '?')} examples)"),
            TimeElapsedColumn(), console=console(), transient=True,
        )
        self.spinner.add_task("eval", total=None)
        self.spinner.start()

    def _stop_spinner(self) -> None:
        if self.spinner is not None:
            self.spinner.stop()
            self.spinner = None

    @hookimpl
    def glue_on_event(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._start(event)
        if not self.active:
            return
        out = console()
        match event:
            case EpochStarted():
                self._epoch(event)
            case StepEnded():
                self._step(event)
            case EpochEnded():
                self._stop_bar()
                out.print(
                    f"epoch {event.epoch}: mean loss {event.train_loss:.4f}, "
                    f"{event.seconds:.1f} s, {event.examples_per_second:.1f} examples/s"
                )
                self.pending = list(self.eval_sizes)
                self._evaluating()
            case EvalEnded():
                self._stop_spinner()
                values = "  ".join(f"{k} {v:.4f}" for k, v in event.metrics.items())
                out.print(f"  {event.split}: {values}")
                self._evaluating()
            case CheckpointSaved():
                self.pending = []
                self._stop_spinner()
            case RunEnded():
                self._stop_spinner()
                self._stop_bar()
                out.print(metrics_table(event.metrics))
                out.print(f"Trained in {event.train_seconds:.1f} s ({event.seconds:.1f} s in all).")
                self.active = False


reporter = ConsoleReporter()
