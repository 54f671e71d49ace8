"""Lite-HRNet's conditional channel weights: cross-resolution and spatial weighting.

`Lite-HRNet: A Lightweight High-Resolution Network
<https://arxiv.org/abs/2104.06403>`_ (Yu et al., CVPR 2021), Sec. 3.3.
"""
from typing import List, Sequence

import torch
from mmcv.cnn import ConvModule

from mmpose_lite.registry import register_unit
from ..ops import pool_to
from .base import AttentionUnit, CrossResolutionUnit


def _add_excitation(unit, channels: int, ratio: int, conv_cfg, norm_cfg, act_cfg) -> None:
    """Give ``unit`` the two 1x1 convolutions both weightings compute their
    weights with: ``conv1: C -> C/ratio`` and ``conv2: C/ratio -> C``, each
    with its norm (if any) and its activation of ``act_cfg``."""
    if isinstance(act_cfg, dict):
        act_cfg = (act_cfg, act_cfg)
    if len(act_cfg) != 2 or not all(isinstance(a, dict) for a in act_cfg):
        raise ValueError(f'act_cfg must be a dict or two dicts, got {act_cfg!r}')
    if not isinstance(ratio, int) or ratio < 1 or channels // ratio < 1:
        raise ValueError(f'{type(unit).__name__}: ratio={ratio!r} must be a positive int not larger '
                         f'than the channels ({channels})')
    mid = int(channels / ratio)
    unit.conv1 = ConvModule(channels, mid, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg[0])
    unit.conv2 = ConvModule(mid, channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg[1])


@register_unit
class SpatialWeighting(AttentionUnit):
    """Spatial weighting: a squeeze-excitation-like channel gate per position.

    ``a = sigmoid(conv2(relu(conv1(avgpool(x)))))`` with shape ``(N, C, 1, 1)``;
    output ``x * a``. As in Lite-HRNet (and MMPose), the two 1x1 convolutions
    carry a bias and no normalization, so ``norm_cfg`` defaults to ``None`` and
    is not taken from the host.

    Args:
        channels (int): Channels of the input.
        ratio (int): Channel reduction ratio of the bottleneck. Default: 4.
        conv_cfg (dict, optional): Convolution config. Default: None.
        norm_cfg (dict, optional): Normalization after each conv. Default: None.
        act_cfg (dict | tuple[dict]): Activations of the two convs.
            Default: ``(dict(type='ReLU'), dict(type='Sigmoid'))``.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> unit = SpatialWeighting(16)
        >>> print(tuple(unit(torch.rand(2, 16, 8, 6)).shape))
        (2, 16, 8, 6)
    """

    def __init__(self,
                 channels: int,
                 ratio: int = 4,
                 conv_cfg=None,
                 norm_cfg=None,
                 act_cfg=(dict(type='ReLU'), dict(type='Sigmoid')),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        _add_excitation(self, channels, ratio, conv_cfg, norm_cfg, act_cfg)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x.mean(dim=(2, 3), keepdim=True)))


@register_unit
class CrossResolutionWeighting(CrossResolutionUnit):
    """Cross-resolution weighting: channel weights computed from all branches.

    Every branch is average-pooled to the size of the smallest (last) one, the
    results are concatenated, passed through ``1x1 conv-BN-ReLU -> 1x1
    conv-BN-sigmoid`` and split back per branch. Branch ``i`` is multiplied by
    its weights, nearest-upsampled to its own size. Each weight map has shape
    ``(N, C_i, H_s, W_s)`` where ``(H_s, W_s)`` is the smallest branch's size.

    When a branch's size is an exact multiple of the smallest one (the case in
    every HR skeleton with even feature sizes), the pooling is a fixed-kernel
    ``avg_pool2d``, which is numerically identical to adaptive pooling and
    exports to ONNX; other sizes fall back to adaptive pooling.

    Args:
        channels (Sequence[int]): Channels of each branch, highest resolution first.
        ratio (int): Channel reduction ratio of the bottleneck. Default: 16.
        conv_cfg (dict, optional): Convolution config. Default: None.
        norm_cfg (dict, optional): Normalization config. Default: None.
        act_cfg (dict | tuple[dict]): Activations of the two convs.
            Default: ``(dict(type='ReLU'), dict(type='Sigmoid'))``.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> unit = CrossResolutionWeighting([8, 16], ratio=4, norm_cfg=dict(type='BN'))
        >>> outs = unit([torch.rand(1, 8, 16, 12), torch.rand(1, 16, 8, 6)])
        >>> print([tuple(o.shape) for o in outs])
        [(1, 8, 16, 12), (1, 16, 8, 6)]
    """
    host_kwargs = ('conv_cfg', 'norm_cfg')

    def __init__(self,
                 channels: Sequence[int],
                 ratio: int = 16,
                 conv_cfg=None,
                 norm_cfg=None,
                 act_cfg=(dict(type='ReLU'), dict(type='Sigmoid')),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(channels, int) or len(channels) < 1:
            raise ValueError(f'CrossResolutionWeighting needs a list of branch channels, got {channels!r}')
        self.channels = list(channels)
        _add_excitation(self, sum(self.channels), ratio, conv_cfg, norm_cfg, act_cfg)

    def attention(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        if len(xs) != len(self.channels):
            raise ValueError(f'expected {len(self.channels)} branches, got {len(xs)}')
        size = xs[-1].shape[-2:]
        pooled = torch.cat([pool_to(x, size) for x in xs], dim=1)
        return list(torch.split(self.conv2(self.conv1(pooled)), self.channels, dim=1))
