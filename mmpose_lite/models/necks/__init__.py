"""Necks that apply attention units on top of any MMPose backbone (see issue tracker)."""
from .attention_neck import AttentionNeck
from .fuse_neck import MultiResolutionFuseNeck

__all__ = ['AttentionNeck', 'MultiResolutionFuseNeck']
