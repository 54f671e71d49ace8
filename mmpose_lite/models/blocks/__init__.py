"""Blocks and layers the backbones are composed of."""
from .ccw_block import ConditionalChannelWeightingBlock
from .hr_layers import apply_transition, build_fuse_layers, build_transition, dw_pw, fuse_branches
from .hr_module import HRModule
from .iterative_head import IterativeHead
from .shuffle_block import ShuffleBlock
from .stem import LiteStem
from .utils import checkpointed

__all__ = [
    'ConditionalChannelWeightingBlock', 'ShuffleBlock', 'HRModule', 'IterativeHead', 'LiteStem', 'dw_pw',
    'build_transition', 'apply_transition', 'build_fuse_layers', 'fuse_branches', 'checkpointed'
]
