"""The TensorFlow backend plugin."""

from glue_cli.api import hookimpl
from glue_plugins.tf_backend.backend import TFBackend


@hookimpl
def glue_register_backends(register):
    register(TFBackend())
