"""Shuffle blocks with pluggable units: naive Lite-HRNet and X-HRNet."""
import torch
from mmcv.cnn import ConvModule
from torch import nn

from mmpose_lite.registry import build_unit, register_block
from ..ops import concat_shuffle, halves
from .base import BlockBase


@register_block
class ShuffleBlock(BlockBase):
    """A stride-1 ShuffleNetV2 block whose two pointwise layers are units.

    ``x -> (x1, x2)`` halves; ``x2 -> pre -> dw 3x3 - norm -> post``; the
    halves are concatenated and channel-shuffled (2 groups). The variants are
    data, not classes:

    * naive Lite-HRNet: ``pre = post = PointwiseConv`` (1x1 conv-BN-ReLU);
    * X-HRNet sequential X-shuffle: ``pre = SUSA(dim='w')``, ``post = SUSA(dim='h')``;
    * X-HRNet parallel X-shuffle: ``pre = post = HWSUSA``;
    * any other attention unit, by config.

    Parameters are named ``branch2.{0,1,2}`` like MMPose's ``ShuffleUnit``.

    Args:
        channels (int): Input and output channels (even).
        pre (dict): Unit before the depthwise conv. Default: ``PointwiseConv``.
        post (dict): Unit after the depthwise conv. Default: ``PointwiseConv``.
        conv_cfg (dict, optional): Convolution config of the depthwise conv
            and the units.
        norm_cfg (dict): Normalization after the depthwise conv, passed to
            the units that take one (``PointwiseConv``).
        with_cp (bool): Use activation checkpointing. Default: False.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> block = ShuffleBlock(16, pre=dict(type='SUSA', dim='w'), post=dict(type='SUSA', dim='h'))
        >>> print(tuple(block(torch.rand(1, 16, 8, 6)).shape))
        (1, 16, 8, 6)
    """
    multi_branch = False

    def __init__(self, channels: int, pre=dict(type='PointwiseConv'), post=dict(type='PointwiseConv'),
                 conv_cfg=None, norm_cfg=dict(type='BN'), with_cp=False, init_cfg=None):
        super().__init__(with_cp=with_cp, init_cfg=init_cfg)
        if channels % 2:
            raise ValueError(f'ShuffleBlock needs an even number of channels, got {channels}')
        half = channels // 2
        host = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.branch2 = nn.Sequential(
            build_unit(pre, half, **host),
            ConvModule(half, half, 3, padding=1, groups=half, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None),
            build_unit(post, half, **host))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = halves(x)
        return concat_shuffle(x1, self.branch2(x2))
