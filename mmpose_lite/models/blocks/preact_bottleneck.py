"""The pre-activation bottleneck residual of the Stacked Hourglass."""
import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import nn

from .base import BlockBase


class PreActBottleneck(BlockBase):
    """The residual module of `Stacked Hourglass Networks for Human Pose
    Estimation <https://arxiv.org/abs/1603.06937>`_ (Newell et al., 2016).

    ``BN-ReLU-1x1 conv (to C/2) -> BN-ReLU-3x3 conv -> BN-ReLU-1x1 conv (to C)``,
    added to the input (identity when the channels match, a 1x1 convolution
    otherwise). Normalization comes before every convolution (pre-activation),
    and the convolutions keep their biases, as in the authors' ``Residual.lua``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels ``C`` (even; the bottleneck has ``C/2``).
        conv_cfg (dict, optional): Convolution config. Default: None.
        norm_cfg (dict): Normalization config. Default: ``dict(type='BN')``.
        with_cp (bool): Use activation checkpointing. Default: False.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> block = PreActBottleneck(16, 32)
        >>> print(tuple(block(torch.rand(1, 16, 8, 8)).shape))
        (1, 32, 8, 8)
    """

    def __init__(self, in_channels: int, out_channels: int, conv_cfg=None, norm_cfg=dict(type='BN'),
                 with_cp: bool = False, init_cfg=None):
        super().__init__(with_cp=with_cp, init_cfg=init_cfg)
        if in_channels <= 0 or out_channels <= 0 or out_channels % 2:
            raise ValueError(f'PreActBottleneck needs positive channels and an even out_channels, '
                             f'got in_channels={in_channels}, out_channels={out_channels}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        mid = out_channels // 2

        def pre_act_conv(i, o, k):
            return nn.Sequential(
                build_norm_layer(norm_cfg, i)[1], nn.ReLU(inplace=False),
                build_conv_layer(conv_cfg, i, o, k, padding=k // 2, bias=True))

        self.conv1 = pre_act_conv(in_channels, mid, 1)
        self.conv2 = pre_act_conv(mid, mid, 3)
        self.conv3 = pre_act_conv(mid, out_channels, 1)
        self.skip = (nn.Identity() if in_channels == out_channels else
                     build_conv_layer(conv_cfg, in_channels, out_channels, 1, bias=True))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.conv3(self.conv2(self.conv1(x)))
