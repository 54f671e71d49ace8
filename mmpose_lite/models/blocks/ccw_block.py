"""Lite-HRNet's conditional channel weighting block, with pluggable units."""
from typing import List, Sequence

import torch
from mmcv.cnn import ConvModule
from torch import nn

from mmpose_lite.registry import build_unit, register_block
from ..ops import concat_shuffle, halves
from .base import BlockBase


@register_block
class ConditionalChannelWeightingBlock(BlockBase):
    """Conditional channel weighting across all branches of a stage module.

    Each branch is split in halves; the second halves of all branches go
    through the cross-resolution unit together, then per branch a depthwise
    3x3 conv - norm and the spatial unit; each branch concatenates its halves
    and shuffles them. With the defaults this is Lite-HRNet's block, with
    parameters named as in MMPose (``cross_resolution_weighting``,
    ``depthwise_convs``, ``spatial_weighting``). Any single-resolution
    attention unit can replace the spatial weighting by config.

    Args:
        channels (Sequence[int]): Channels of each branch (each even).
        reduce_ratio (int): Reduction ratio of the cross-resolution unit.
        cross_unit (dict): Cross-resolution unit.
            Default: ``dict(type='CrossResolutionWeighting')``.
        spatial_unit (dict): Per-branch unit.
            Default: ``dict(type='SpatialWeighting', ratio=4)``.
        conv_cfg (dict, optional): Convolution config of the depthwise convs
            and the units.
        norm_cfg (dict): Normalization after the depthwise convs, passed to
            the units that take one (the cross-resolution unit).
        with_cp (bool): Use activation checkpointing. Default: False.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> block = ConditionalChannelWeightingBlock([8, 16], reduce_ratio=4)
        >>> outs = block([torch.rand(1, 8, 16, 12), torch.rand(1, 16, 8, 6)])
        >>> print([tuple(o.shape) for o in outs])
        [(1, 8, 16, 12), (1, 16, 8, 6)]
    """
    multi_branch = True

    def __init__(self, channels: Sequence[int], reduce_ratio: int = 8,
                 cross_unit=dict(type='CrossResolutionWeighting'),
                 spatial_unit=dict(type='SpatialWeighting', ratio=4), conv_cfg=None, norm_cfg=dict(type='BN'),
                 with_cp=False, init_cfg=None):
        super().__init__(with_cp=with_cp, init_cfg=init_cfg)
        if any(c % 2 for c in channels):
            raise ValueError(f'every branch needs an even number of channels, got {list(channels)}')
        half_channels = [c // 2 for c in channels]
        host = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.cross_resolution_weighting = build_unit(dict(cross_unit, ratio=reduce_ratio), half_channels, **host)
        self.depthwise_convs = nn.ModuleList([
            ConvModule(c, c, 3, padding=1, groups=c, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)
            for c in half_channels
        ])
        self.spatial_weighting = nn.ModuleList([build_unit(spatial_unit, c, **host) for c in half_channels])

    def _forward(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        split = [halves(x) for x in xs]
        x2 = self.cross_resolution_weighting([h[1] for h in split])
        x2 = [sw(dw(x)) for x, dw, sw in zip(x2, self.depthwise_convs, self.spatial_weighting)]
        return [concat_shuffle(h[0], y) for h, y in zip(split, x2)]
