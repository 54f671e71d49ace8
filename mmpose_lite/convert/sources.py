"""Imports every built-in converter so that it registers itself."""
from . import hourglass, psa, xhrnet  # noqa: F401
