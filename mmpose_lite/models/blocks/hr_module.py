"""One stage module of the high-resolution lightweight skeleton."""
from typing import List, Sequence

import torch
from mmengine.model import BaseModule
from torch import nn

from mmpose_lite.registry import BLOCKS, build_from, lookup
from .hr_layers import build_fuse_layers, fuse_branches


class HRModule(BaseModule):
    """Parallel branches of ``num_blocks`` blocks each, then the fuse layers.

    The block is any entry of :data:`~mmpose_lite.registry.BLOCKS` (the
    contract of :class:`~.base.BlockBase`): a multi-branch block
    (``multi_branch=True``) is stacked ``num_blocks`` times over the whole
    list of branches (``layers.{k}``); a single-branch block is stacked per
    branch (``layers.{branch}.{k}``). Both layouts match MMPose's
    ``LiteHRModule`` for its ``LITE`` and ``NAIVE`` types.

    Args:
        in_channels (Sequence[int]): Channels of each branch.
        num_blocks (int): Blocks per branch.
        block (dict): Block config (its ``type`` names a registered block).
        multiscale_output (bool): Return every branch, else only the first.
        with_fuse (bool): Exchange information between branches.
        fuse_mode (str): ``'litehrnet'`` or ``'sum'``, see
            :func:`~mmpose_lite.models.blocks.hr_layers.fuse_branches`.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Normalization config.
        with_cp (bool): Use activation checkpointing in the blocks.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self, in_channels: Sequence[int], num_blocks: int, block: dict, multiscale_output: bool = True,
                 with_fuse: bool = True, fuse_mode: str = 'litehrnet', conv_cfg=None, norm_cfg=dict(type='BN'),
                 with_cp=False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.multiscale_output = multiscale_output
        self.fuse_mode = fuse_mode
        self.multi_branch = lookup(BLOCKS, block).multi_branch
        host = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, with_cp=with_cp)

        def stack(channels):
            return nn.Sequential(*[build_from(BLOCKS, block, channels, **host) for _ in range(num_blocks)])

        if self.multi_branch:
            self.layers = stack(self.in_channels)
        else:
            self.layers = nn.ModuleList([stack(c) for c in self.in_channels])
        self.fuse_layers = build_fuse_layers(self.in_channels, multiscale_output, conv_cfg,
                                             norm_cfg) if with_fuse else None
        self.relu = nn.ReLU()

    def forward(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        if self.multi_branch:
            out = self.layers(list(xs))
        else:
            out = [layer(x) for layer, x in zip(self.layers, xs)]
        if self.fuse_layers is not None:
            out = fuse_branches(self.fuse_layers, out, self.relu, self.fuse_mode)
        return out if self.multiscale_output else out[:1]
