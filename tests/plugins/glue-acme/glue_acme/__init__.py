"""A third party's plugin: one paraphrase task in its own folder layout, one backend."""

import importlib.util

from glue_cli.api import GlueLayout, Task, hookimpl

ACME_TASK = Task(
    name="acme-paraphrase",
    text_fields=("left", "right"),
    labels=("different", "same"),
    metrics=("accuracy", "f1"),
    glue=GlueLayout(
        "ACME", {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"},
        ("left", "right"), "verdict", index_column="id",
    ),
    description="ACME's paraphrase pairs",
)


class AcmeBackend:
    """A backend for ACME's accelerator; its framework is not installed in the tests."""

    name = "acme"
    # Its models are PyTorch models; acme_accel runs them (like torch_xla does for TPUs).
    framework = "torch"
    install_hint = "Install it with: pip install acme-accel"
    pad_multiple = 64
    fixed_batch_rows = True

    def unavailable_reason(self):
        if importlib.util.find_spec("acme_accel") is None:
            return "the acme_accel package is not installed"
        return None

    def devices(self):
        return ["acme:0"]

    def precisions(self, device=None):
        return ["fp32"]

    def amp_precision(self, device=None):
        return "fp32"

    def create(self, spec):
        raise NotImplementedError("ACME's accelerator is not part of the tests")


@hookimpl
def glue_register_tasks(register):
    register(ACME_TASK)


@hookimpl
def glue_register_backends(register):
    register(AcmeBackend())
