"""The generator's parameters, declared once.

:class:`SyntheticCocoConfig` is what :func:`generate_synthetic_coco` takes,
what its manifest records and what the command line offers: each field
carries its default, its help text and its allowed range; the CLI builds
one option per field from them, and every value is checked, against that
range, when a config is made.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np

__all__ = ['SyntheticCocoConfig', 'config_fields', 'is_int']


def is_int(x: Any) -> bool:
    """True for a Python or numpy integer (``bool`` excluded)."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _param(default: Any, help: str, low: float, high: Optional[float] = None, **cli: Any) -> Any:
    """A config field: its default, its help text, its range ``[low, high]``
    (``high=None``: no upper bound) and extra ``argparse`` keywords (e.g.
    ``metavar``) for the command line."""
    return field(default=default, metadata=dict(help=help, low=low, high=high, cli=cli))


def _range_text(low: float, high: Optional[float], integer: bool) -> str:
    """How an error message names the range, e.g. ``a positive integer``."""
    if not integer:
        return f'in [{low:g}, {high:g}]'
    if high is None:
        return {0: 'a non-negative integer', 1: 'a positive integer'}.get(low, f'an integer >= {low}')
    return f'an integer in [{low}, {high}]'


@dataclass(frozen=True)
class SyntheticCocoConfig:
    """Parameters of the synthetic dataset; the output is a pure function of
    them.

    Every value is checked when a config is made (``ValueError`` naming the
    field and the bad value). Integer fields given as numpy integers are
    stored as ``int`` and ``img_size`` as a tuple, so a config is always
    JSON-ready.

    Attributes:
        num_train: Number of training images (>= 0).
        num_val: Number of validation images (>= 0).
        img_size: ``(width, height)`` of every image in pixels, each in
            [64, 4096].
        seed: Non-negative master seed.
        max_people: Maximum number of people per image (1 to 8).
        min_visible_area: People with fewer visible pixels are drawn but not
            annotated (>= 1).
        jpeg_quality: JPEG quality (1-100) of the written images.
        occluder_prob: Probability that an image gets occluder objects drawn
            over people.
        truncation_prob: Probability that a person is placed partly outside
            the image.
    """

    num_train: int = _param(1000, 'number of training images', 0)
    num_val: int = _param(150, 'number of validation images', 0)
    img_size: Tuple[int, int] = _param((320, 240), 'image width and height in pixels, each in [64, 4096]', 64, 4096,
                                       metavar=('W', 'H'))
    seed: int = _param(0, 'master seed; the output is a pure function of the parameters', 0)
    max_people: int = _param(4, 'maximum number of people per image (1-8)', 1, 8)
    min_visible_area: int = _param(64, 'people with fewer visible pixels are not annotated', 1)
    jpeg_quality: int = _param(92, 'JPEG quality of the images (1-100)', 1, 100)
    occluder_prob: float = _param(0.4, 'probability of occluder objects in an image', 0.0, 1.0)
    truncation_prob: float = _param(0.25, 'probability that a person crosses the image border', 0.0, 1.0)

    def __post_init__(self) -> None:
        self.validate()
        for f in dataclasses.fields(self):
            if f.type in ('int', int):
                object.__setattr__(self, f.name, int(getattr(self, f.name)))
        object.__setattr__(self, 'img_size', tuple(int(s) for s in self.img_size))

    def validate(self) -> None:
        """Checks every field against its declared type and range.

        Raises:
            ValueError: If a value is out of range; the message names the
                field and the bad value.
        """
        for f in dataclasses.fields(self):
            val, low, high = getattr(self, f.name), f.metadata['low'], f.metadata['high']
            if f.name == 'img_size':
                if not isinstance(val, (tuple, list)) or len(val) != 2 or not all(is_int(s) for s in val):
                    raise ValueError(f'img_size must be a (width, height) pair of integers, got {val!r}')
                if min(val) < low or max(val) > high:
                    raise ValueError(f'img_size must have width and height in [{low}, {high}], got {tuple(val)!r}')
                continue
            integer = f.type in ('int', int)
            ok = is_int(val) if integer else isinstance(val, (int, float))
            if not (ok and low <= val and (high is None or val <= high)):  # NaN fails too
                raise ValueError(f'{f.name} must be {_range_text(low, high, integer)}, got {val!r}')

    def record(self) -> Dict[str, Any]:
        """The config as the manifest stores it (JSON types)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def config_fields() -> Dict[str, Tuple[type, int, dataclasses.Field]]:
    """Each field's element type and count (``img_size``: ``int``, 2; the
    others 1) and the field itself, in declaration order: what a command
    line needs to offer the field."""
    hints = typing.get_type_hints(SyntheticCocoConfig)
    out = {}
    for f in dataclasses.fields(SyntheticCocoConfig):
        args = typing.get_args(hints[f.name])
        out[f.name] = (args[0], len(args), f) if args else (hints[f.name], 1, f)
    return out
