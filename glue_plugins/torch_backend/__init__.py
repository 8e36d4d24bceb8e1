"""The PyTorch backend plugin."""

from glue_cli.api import hookimpl
from glue_plugins.torch_backend.backend import TorchBackend


@hookimpl
def glue_register_backends(register):
    register(TorchBackend())
