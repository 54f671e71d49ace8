"""The Lite-HRNet stem: a strided conv and a shuffle block down to 1/4 size."""
import torch
from mmcv.cnn import ConvModule
from torch import nn

from ..ops import concat_shuffle, halves
from .base import BlockBase


class LiteStem(BlockBase):
    """``3x3/2 conv-BN-ReLU``, then a stride-2 shuffle block on its two halves.

    One half goes ``dw 3x3/2-BN -> 1x1-BN-ReLU`` (``branch1``), the other
    ``1x1-BN-ReLU (expand) -> dw 3x3/2-BN -> 1x1-BN-ReLU``; the results are
    concatenated and shuffled. Parameter names follow MMPose's ``Stem``.

    Args:
        in_channels (int): Input image channels.
        stem_channels (int): Channels after the first convolution.
        out_channels (int): Output channels.
        expand_ratio (float): Expansion of the second half's hidden width.
        conv_cfg (dict, optional): Convolution config. Default: None.
        norm_cfg (dict): Normalization config. Default: ``dict(type='BN')``.
        with_cp (bool): Use activation checkpointing. Default: False.
        init_cfg (dict, optional): Initialization config. Default: None.
    """

    def __init__(self, in_channels, stem_channels, out_channels, expand_ratio, conv_cfg=None,
                 norm_cfg=dict(type='BN'), with_cp=False, init_cfg=None):
        super().__init__(with_cp=with_cp, init_cfg=init_cfg)
        if stem_channels % 2:
            raise ValueError(f'stem_channels must be even, got {stem_channels}')
        self.out_channels = out_channels
        relu = dict(type='ReLU')
        half = stem_channels // 2
        same = stem_channels == out_channels
        inc_channels = out_channels - (half if same else stem_channels)
        mid = int(round(stem_channels * expand_ratio))

        def conv(i, o, k, s=1, groups=1, act=relu):
            return ConvModule(i, o, k, stride=s, padding=k // 2, groups=groups, conv_cfg=conv_cfg,
                              norm_cfg=norm_cfg, act_cfg=act)

        self.conv1 = conv(in_channels, stem_channels, 3, 2)
        self.branch1 = nn.Sequential(conv(half, half, 3, 2, half, None), conv(half, inc_channels, 1))
        self.expand_conv = conv(half, mid, 1)
        self.depthwise_conv = conv(mid, mid, 3, 2, mid, None)
        self.linear_conv = conv(mid, half if same else stem_channels, 1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x1, x2 = halves(x)
        x2 = self.linear_conv(self.depthwise_conv(self.expand_conv(x2)))
        return concat_shuffle(self.branch1(x1), x2)
