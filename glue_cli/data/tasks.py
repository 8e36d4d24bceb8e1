"""The Task type and the task registry."""

from __future__ import annotations

from dataclasses import dataclass, field

from glue_cli.plugins.registry import Registry


@dataclass(frozen=True)
class GlueLayout:
    """Where a task's files live in a GLUE-download folder and which columns hold what.

    ``columns`` names the columns of a header-less labelled file (CoLA); ``None`` means the
    first row is the header. Test files of the GLUE download always have a header.
    A file whose name ends in ``.csv`` is read as a standard CSV (commas, quoted fields, as a
    plugin's own data usually is); any other as GLUE TSV (tabs, quotes are text).
    """

    folder: str
    files: dict[str, str]
    text_columns: tuple[str, ...]
    label_column: str
    index_column: str = "index"
    columns: tuple[str, ...] | None = None
    # Every column of a split's file as the GLUE download writes it, header order, for files that
    # hold more than the columns named above (MRPC's IDs, STS-B's genre, ...). ``glue data fetch``
    # writes these, leaving empty the ones the hub does not carry. A split not listed has
    # ``index_column``, the text columns, then the label column (unlabelled files: no label).
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Splits whose GLUE file starts with a UTF-8 byte-order mark (MRPC's train and dev).
    byte_order_mark: tuple[str, ...] = ()

    def file_columns(self, split: str, labelled: bool) -> tuple[str, ...]:
        """The columns of ``split``'s file, in order (a header-less file: ``columns``)."""
        if labelled and self.columns is not None:
            return self.columns
        if split in self.headers:
            return self.headers[split]
        return (self.index_column, *self.text_columns, *((self.label_column,) if labelled else ()))


@dataclass(frozen=True)
class Task:
    """A sentence(-pair) classification or regression task."""

    name: str
    text_fields: tuple[str, ...]
    labels: tuple[str, ...] | None
    metrics: tuple[str, ...]
    eval_splits: tuple[str, ...] = ("validation",)
    test_splits: tuple[str, ...] = ("test",)
    # Unlabelled splits predicted only when their file is there (MNLI: the AX diagnostic set).
    optional_test_splits: tuple[str, ...] = ()
    glue: GlueLayout | None = None
    hub_id: str | None = None
    hub_config: str | None = None
    # A split that lives under another hub config or split name: {"diagnostic": ("ax", "test")}.
    hub_splits: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Leaderboard file name per test split, e.g. {"test": "MRPC.tsv"}.
    submission_files: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    description: str = ""
    # The task's own data folder (e.g. one shipped beside a plugin's module), read when --data-dir
    # is not given, before $GLUE_DIR/<glue.folder>.
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if len(self.text_fields) not in (1, 2):
            raise ValueError(f"task {self.name}: text_fields must hold one or two names")

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_labels(self) -> int:
        return 1 if self.labels is None else len(self.labels)

    @property
    def main_metric(self) -> str:
        return self.metrics[0]

    @property
    def unlabelled_splits(self) -> tuple[str, ...]:
        return (*self.test_splits, *self.optional_test_splits)

    @property
    def is_custom(self) -> bool:
        """Built from the user's own files rather than registered by a plugin."""
        return self.glue is None and self.hub_id is None

    def submission_file(self, split: str) -> str:
        """The leaderboard file name for a test split (``<name>.tsv`` for a custom task)."""
        return self.submission_files.get(split, f"{self.name}.tsv")


def task_names(task: Task) -> tuple[str, ...]:
    return (task.name, *task.aliases)


def task_registry() -> Registry[Task]:
    return Registry("task", task_names)
