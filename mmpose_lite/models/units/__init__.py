"""Attention units: one concept per file, all registered in ``UNITS`` (and in
MMPose's ``MODELS``), all following the contract of :mod:`.base`."""
from .base import AttentionUnit, CrossResolutionUnit
from .ccw import CrossResolutionWeighting, SpatialWeighting
from .conv import PointwiseConv
from .hw_susa import HWSUSA
from .susa import SUSA

__all__ = [
    'AttentionUnit', 'CrossResolutionUnit', 'CrossResolutionWeighting', 'SpatialWeighting', 'SUSA', 'HWSUSA',
    'PointwiseConv'
]
