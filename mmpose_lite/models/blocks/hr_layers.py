"""Transition and fuse layers of the high-resolution lightweight skeleton.

Written once here and used by every HR backbone of the package. The layer
layout (and so the parameter names) follows MMPose's ``LiteHRNet`` so that its
model-zoo checkpoints load strictly.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer


def dw_pw(in_channels: int, out_channels: int, stride: int, relu: bool, conv_cfg=None,
          norm_cfg=dict(type='BN')) -> nn.Sequential:
    """``depthwise 3x3 (stride) - norm - pointwise 1x1 - norm [- ReLU]``."""
    layers = [
        build_conv_layer(conv_cfg, in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels,
                         bias=False),
        build_norm_layer(norm_cfg, in_channels)[1],
        build_conv_layer(conv_cfg, in_channels, out_channels, 1, bias=False),
        build_norm_layer(norm_cfg, out_channels)[1],
    ]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def build_transition(pre_channels: Sequence[int], cur_channels: Sequence[int], conv_cfg=None,
                     norm_cfg=dict(type='BN'), relu: bool = True) -> nn.ModuleList:
    """Transition from a stage with ``pre_channels`` branches to ``cur_channels``.

    Existing branches get a ``dw_pw`` block if their width changes (else
    ``None``); each new branch is made from the last existing one by a chain
    of stride-2 ``dw_pw`` blocks.

    Args:
        pre_channels (Sequence[int]): Widths of the previous stage's branches.
        cur_channels (Sequence[int]): Widths of the next stage's branches.
        conv_cfg (dict, optional): Convolution config. Default: None.
        norm_cfg (dict): Normalization config. Default: ``dict(type='BN')``.
        relu (bool): End every ``dw_pw`` block (each step of a chain too)
            with a ReLU, as MMPose's ``LiteHRNet`` does; ``False`` leaves
            out every ReLU of the transition, as the X-HRNet authors' code
            does (same parameters). Default: True.

    Returns:
        nn.ModuleList: One entry per output branch (``None`` for identity).
    """
    layers = []
    for i, cur in enumerate(cur_channels):
        if i < len(pre_channels):
            layers.append(None if cur == pre_channels[i] else dw_pw(pre_channels[i], cur, 1, relu, conv_cfg,
                                                                    norm_cfg))
        else:
            src = pre_channels[-1]
            steps = i + 1 - len(pre_channels)
            layers.append(
                nn.Sequential(*[
                    dw_pw(src, cur if k == steps - 1 else src, 2, relu, conv_cfg, norm_cfg) for k in range(steps)
                ]))
    return nn.ModuleList(layers)


def apply_transition(transition: nn.ModuleList, xs: List[torch.Tensor]) -> List[torch.Tensor]:
    """Apply :func:`build_transition`'s layers: new branches come from the last input."""
    out = []
    for i, layer in enumerate(transition):
        x = xs[min(i, len(xs) - 1)]
        out.append(x if layer is None else layer(x))
    return out


def build_fuse_layers(channels: Sequence[int], multiscale_output: bool, conv_cfg=None,
                      norm_cfg=dict(type='BN')) -> Optional[nn.ModuleList]:
    """Fuse layers: ``fuse[i][j]`` maps branch ``j`` to the size and width of ``i``.

    Lower resolution (``j > i``): ``1x1 conv - norm - nearest upsample``.
    Higher resolution (``j < i``): ``i - j`` stride-2 ``dw_pw`` steps, ReLU
    between steps but not after the last.
    """
    n = len(channels)
    if n == 1:
        return None
    fuse = []
    for i in range(n if multiscale_output else 1):
        row = []
        for j in range(n):
            if j > i:
                row.append(
                    nn.Sequential(
                        build_conv_layer(conv_cfg, channels[j], channels[i], 1, bias=False),
                        build_norm_layer(norm_cfg, channels[i])[1],
                        nn.Upsample(scale_factor=2**(j - i), mode='nearest')))
            elif j == i:
                row.append(None)
            else:
                steps = i - j
                row.append(
                    nn.Sequential(*[
                        dw_pw(channels[j], channels[i] if k == steps - 1 else channels[j], 2, k != steps - 1,
                              conv_cfg, norm_cfg) for k in range(steps)
                    ]))
        fuse.append(nn.ModuleList(row))
    return nn.ModuleList(fuse)


def fuse_branches(fuse_layers: nn.ModuleList, xs: List[torch.Tensor], relu: nn.Module,
                  mode: str = 'litehrnet') -> List[torch.Tensor]:
    """Sum every branch into each output branch, then ReLU.

    Args:
        mode (str): ``'sum'``: ``y_i = relu(sum_j f_ij(x_j))`` with ``f_ii = id``
            (HRNet). ``'litehrnet'``: the arithmetic of the official Lite-HRNet
            and X-HRNet code and of MMPose's ``LiteHRNet``, which all of their
            checkpoints were trained with -- their loop adds branch 0 a second
            time, and its in-place ``+=`` makes outputs ``i > 0`` read the
            already fused (pre-ReLU) branch 0:
            ``y_0 = 2 x_0 + sum_{j>0} f_0j(x_j)``,
            ``y_i = 2 f_i0(y_0) + x_i + sum_{j>0, j!=i} f_ij(x_j)``.
    """
    if mode not in ('litehrnet', 'sum'):
        raise ValueError(f"fuse mode must be 'litehrnet' or 'sum', got {mode!r}")
    src = list(xs)
    out = []
    for i, row in enumerate(fuse_layers):
        terms = [x if layer is None else layer(x) for x, layer in zip(src, row)]
        y = terms[0] + terms[1]  # a new tensor: the other terms accumulate into it in place
        for t in terms[2:]:
            y.add_(t)
        if mode == 'litehrnet':
            y.add_(terms[0])
            if i == 0:
                src[0] = y
        out.append(relu(y))
    return out
