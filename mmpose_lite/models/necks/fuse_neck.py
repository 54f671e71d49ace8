"""HRNetV2-style fusion of all resolutions into the highest one."""
from typing import Optional, Sequence

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from mmpose_lite.registry import register_model
from ..ops import resize_to
from ..strict_load import StrictLoadMixin


@register_model
class MultiResolutionFuseNeck(StrictLoadMixin, BaseModule):
    """Upsample every branch to the highest resolution, concatenate, reduce.

    The HRNetV2 representation of `High-Resolution Representations for
    Labeling Pixels and Regions <https://arxiv.org/abs/1904.04514>`_: the
    outputs of a multi-branch backbone (e.g. MMPose's HRNet with
    ``multiscale_output=True`` in its last stage, or ``LightHRNet`` with
    ``out_indices=(0, 1, 2, 3)``) are resized to the size of the first one and
    concatenated; an optional ``1x1 conv - norm - ReLU`` reduces the channels.
    Returns a one-element tuple, which a head such as ``HeatmapHead`` takes
    with ``in_channels`` equal to :attr:`out_channels`.

    Args:
        in_channels (Sequence[int]): Channels of each input, highest
            resolution first.
        out_channels (int, optional): Channels after the 1x1 reduction; None
            keeps the concatenation (``sum(in_channels)`` channels).
            Default: None.
        upsample_mode (str): ``'bilinear'`` (HRNetV2) or ``'nearest'``.
            Default: 'bilinear'.
        conv_cfg (dict, optional): Convolution config. Default: None.
        norm_cfg (dict): Normalization config of the reduction. Default:
            ``dict(type='BN')``.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> neck = MultiResolutionFuseNeck([8, 16, 32], out_channels=24)
        >>> xs = (torch.rand(1, 8, 16, 12), torch.rand(1, 16, 8, 6), torch.rand(1, 32, 4, 3))
        >>> print([tuple(o.shape) for o in neck(xs)])
        [(1, 24, 16, 12)]
    """
    upsample_modes = ('bilinear', 'nearest')

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: Optional[int] = None,
                 upsample_mode: str = 'bilinear',
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(in_channels, int) or not in_channels or not all(
                isinstance(c, int) and c > 0 for c in in_channels):
            raise ValueError(f'MultiResolutionFuseNeck: in_channels must be a non-empty sequence of positive ints, '
                             f'got {in_channels!r}')
        if upsample_mode not in self.upsample_modes:
            raise ValueError(f'MultiResolutionFuseNeck: unknown upsample_mode {upsample_mode!r}; '
                             f'valid modes: {list(self.upsample_modes)}')
        if out_channels is not None and not (isinstance(out_channels, int) and out_channels > 0):
            raise ValueError(f'MultiResolutionFuseNeck: out_channels must be a positive int or None, '
                             f'got {out_channels!r}')
        self.in_channels = list(in_channels)
        self.upsample_mode = upsample_mode
        total = sum(self.in_channels)
        self.reduce = None if out_channels is None else ConvModule(
            total, out_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=dict(type='ReLU'))
        #: channels of the fused output
        self.out_channels = total if out_channels is None else out_channels

    def forward(self, inputs):
        xs = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
        if len(xs) != len(self.in_channels):
            raise ValueError(f'MultiResolutionFuseNeck: built for {len(self.in_channels)} inputs, got {len(xs)}')
        size = xs[0].shape[-2:]
        align = dict(align_corners=False) if self.upsample_mode == 'bilinear' else {}
        ys = [xs[0]] + [resize_to(x, size, mode=self.upsample_mode, **align) for x in xs[1:]]
        y = torch.cat(ys, dim=1)
        return (y if self.reduce is None else self.reduce(y), )
