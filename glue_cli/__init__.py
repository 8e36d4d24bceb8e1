"""glue-cli: fine-tune Transformer encoders on GLUE with interchangeable backends."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("glue-cli")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

PLUGIN_API_VERSION = "2.1"
