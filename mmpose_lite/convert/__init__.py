"""Converters from the papers' reference checkpoints to MMPose 1.x
checkpoints of our configs (``tools/convert_checkpoint.py``)."""
from .base import (
    CONVERTERS,
    ConversionError,
    Converter,
    convert_checkpoint,
    convert_state_dict,
    get_converter,
    read_state_dict,
    register_converter,
)

__all__ = ['CONVERTERS', 'ConversionError', 'Converter', 'convert_checkpoint', 'convert_state_dict',
           'get_converter', 'read_state_dict', 'register_converter']
