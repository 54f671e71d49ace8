"""Blocks and layers the backbones are composed of; the block contract is
:class:`~.base.BlockBase`."""
from .base import BlockBase
from .ccw_block import ConditionalChannelWeightingBlock
from .hourglass_module import HourglassModule
from .hr_layers import apply_transition, build_fuse_layers, build_transition, dw_pw, fuse_branches
from .hr_module import HRModule
from .iterative_head import IterativeHead
from .preact_bottleneck import PreActBottleneck
from .shuffle_block import ShuffleBlock
from .stem import LiteStem
from .token_mixer_block import TokenMixerBlock
from .unit_resblocks import UnitBasicBlock, UnitBottleneck
from .utils import checkpointed

__all__ = [
    'BlockBase', 'ConditionalChannelWeightingBlock', 'ShuffleBlock', 'HRModule', 'IterativeHead', 'LiteStem',
    'dw_pw', 'build_transition', 'apply_transition', 'build_fuse_layers', 'fuse_branches', 'checkpointed',
    'PreActBottleneck', 'HourglassModule', 'UnitBasicBlock', 'UnitBottleneck', 'TokenMixerBlock'
]
