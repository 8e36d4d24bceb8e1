"""The JAX/Flax backend plugin."""

from glue_cli.api import hookimpl
from glue_plugins.flax_backend.backend import FlaxBackend


@hookimpl
def glue_register_backends(register):
    register(FlaxBackend())
