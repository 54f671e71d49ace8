"""Attention units: one concept per file, all registered in ``UNITS`` (and in
MMPose's ``MODELS``), all following the contract of :mod:`.base`."""
from .base import AttentionUnit, CrossResolutionUnit
from .ccw import CrossResolutionWeighting, SpatialWeighting
from .conv import PointwiseConv
from .global_attention import GlobalSelfAttention
from .hw_susa import HWSUSA
from .slide import SlideAttention
from .psa import PSA, PSAChannel, PSASpatial
from .susa import SUSA

__all__ = [
    'AttentionUnit', 'CrossResolutionUnit', 'CrossResolutionWeighting', 'SpatialWeighting', 'SUSA', 'HWSUSA',
    'PointwiseConv', 'PSA', 'PSAChannel', 'PSASpatial', 'SlideAttention', 'GlobalSelfAttention'
]
