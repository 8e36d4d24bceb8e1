"""The TensorBoard reporter, opt-in (``--report-to tensorboard``): scalars in ``<run>/tensorboard/``.

Tags, all against the global training step: ``train/loss`` and ``train/learning_rate`` per
step; ``train/epoch_loss``, ``train/epoch_seconds`` and ``train/examples_per_second`` per epoch;
``eval/<split>/<metric>`` per evaluation (at the epoch's last step).

Event files are written with the ``tensorboard`` package alone: its protos and its TFRecord
framing (``RecordWriter``) over a plain file. Its ``EventFileWriter`` is not used: it opens files
through ``tf.io.gfile``, which imports TensorFlow whenever TensorFlow is installed (seconds, and a
framework the run may not use). The package is imported only by runs that ask for TensorBoard.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import IO, Any

from glue_cli.api import EpochEnded, EvalEnded, Event, RunEnded, RunStarted, StepEnded, hookimpl, pip_install_extra

FOLDER = "tensorboard"


class TensorBoardReporter:
    # Events only in runs whose --report-to names this plugin (glue_cli.plugins.reporting).
    opt_in = True

    @property
    def install_hint(self) -> str:
        return f"Install it with: {pip_install_extra('tensorboard')}"

    def __init__(self) -> None:
        self.file: IO[bytes] | None = None
        self.records: Any = None  # tensorboard's RecordWriter over self.file
        self.step = 0

    def unavailable_reason(self) -> str | None:
        try:
            import tensorboard.compat.proto.event_pb2  # noqa: F401
            import tensorboard.summary.writer.record_writer  # noqa: F401
        except ImportError:
            return "the tensorboard package is not installed"
        return None

    def _open(self, e: RunStarted) -> None:
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        self.close()
        folder = Path(e.run_dir) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        # TensorBoard's own naming: it finds files by "tfevents" and reads them in name (= time) order,
        # so a resumed run's new file is read after the interrupted run's. The nanoseconds keep two
        # runs of one process in one second (tests) apart, and in order.
        now = time.time_ns()
        name = f"events.out.tfevents.{now // 10**9:010d}.{socket.gethostname()}.{os.getpid()}.{now}.glue"
        self.file = open(folder / name, "wb")
        self.records = RecordWriter(self.file)
        self.step = e.start_step
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        # "The run (re)starts after step N": TensorBoard drops the steps an interrupted run logged
        # past its last checkpoint, which the resumed run logs again.
        self._write(event_pb2.Event(
            wall_time=time.time(), step=e.start_step + 1,
            session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START),
        ))

    def _write(self, event: Any) -> None:
        self.records.write(event.SerializeToString())
        # Every event reaches the disk at once: TensorBoard shows a live run, and a crash loses nothing.
        self.records.flush()

    def _scalars(self, step: int, values: dict[str, float]) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        summary = summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag=tag, simple_value=float(value)) for tag, value in values.items()
        ])
        self._write(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    @hookimpl
    def glue_on_event(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._open(event)
        if self.records is None:
            return
        match event:
            case StepEnded():
                self.step = event.step
                self._scalars(event.step, {"train/loss": event.loss, "train/learning_rate": event.learning_rate})
            case EpochEnded():
                self._scalars(self.step, {
                    "train/epoch_loss": event.train_loss, "train/epoch_seconds": event.seconds,
                    "train/examples_per_second": event.examples_per_second,
                })
            case EvalEnded():
                self._scalars(self.step, {f"eval/{event.split}/{k}": v for k, v in event.metrics.items()})
            case RunEnded():
                self.close()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file, self.records = None, None


reporter = TensorBoardReporter()
