"""The recursive hourglass module of the Stacked Hourglass."""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from .preact_bottleneck import PreActBottleneck


class HourglassModule(BaseModule):
    """One hourglass of `Stacked Hourglass Networks for Human Pose Estimation
    <https://arxiv.org/abs/1603.06937>`_, built recursively as the authors'
    ``hourglass(n, f, inp)``.

    ``up1``: ``num_modules`` residuals at the input resolution (the skip
    branch). ``low1``: 2x2 max-pool, ``num_modules`` residuals. ``low2``: the
    hourglass of depth ``depth - 1``, or ``num_modules`` residuals at the
    innermost level. ``low3``: ``num_modules`` residuals. The output is
    ``up1(x) + nearest_upsample_x2(low3(low2(low1(x))))``. All residuals are
    :class:`PreActBottleneck` with ``channels`` in and out; the input size must
    be divisible by ``2**depth``.

    Args:
        depth (int): Number of 2x downsamplings (recursion levels). Default: 4.
        channels (int): Feature channels. Default: 256.
        num_modules (int): Residuals per step. Default: 1.
        conv_cfg (dict, optional): Convolution config, passed to every level.
        norm_cfg (dict): Normalization config, passed to every level.
            Default: ``dict(type='BN')``.
        with_cp (bool): Activation checkpointing in every residual. Default: False.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> hg = HourglassModule(depth=3, channels=16)
        >>> print(tuple(hg(torch.rand(1, 16, 16, 8)).shape))
        (1, 16, 16, 8)
    """

    def __init__(self, depth: int = 4, channels: int = 256, num_modules: int = 1, conv_cfg=None,
                 norm_cfg=dict(type='BN'), with_cp: bool = False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f'HourglassModule: depth must be an int >= 1, got {depth!r}')
        if not isinstance(num_modules, int) or num_modules < 1:
            raise ValueError(f'HourglassModule: num_modules must be an int >= 1, got {num_modules!r}')
        self.depth = depth
        host = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, with_cp=with_cp)

        def residuals():
            return nn.Sequential(*[PreActBottleneck(channels, channels, **host) for _ in range(num_modules)])

        self.up1 = residuals()
        self.low1 = residuals()
        self.low2 = HourglassModule(depth - 1, channels, num_modules, **host) if depth > 1 else residuals()
        self.low3 = residuals()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, kernel_size=2, stride=2))))
        return self.up1(x) + F.interpolate(low, scale_factor=2, mode='nearest')
