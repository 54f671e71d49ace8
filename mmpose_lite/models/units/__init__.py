"""Attention units: one concept per file, all registered in ``UNITS`` (and in
MMPose's ``MODELS``), all following the unit contract of :mod:`.base`."""
from .base import AttentionUnit, CrossResolutionUnit, TokenMixer, Unit
from .ccw import CrossResolutionWeighting, SpatialWeighting
from .conv import PointwiseConv
from .global_attention import GlobalSelfAttention
from .hw_susa import HWSUSA
from .psa import PSA, PSABranch, PSAChannel, PSASpatial
from .slide import SlideAttention
from .susa import SUSA

__all__ = [
    'Unit', 'AttentionUnit', 'CrossResolutionUnit', 'TokenMixer', 'CrossResolutionWeighting', 'SpatialWeighting',
    'SUSA', 'HWSUSA', 'PointwiseConv', 'PSA', 'PSABranch', 'PSAChannel', 'PSASpatial', 'SlideAttention',
    'GlobalSelfAttention'
]
