"""Parallel H-/W-wise SUSA: half of the channels each, then a channel shuffle."""
import torch
from mmengine.model import BaseModule

from mmpose_lite.registry import build_unit, register_unit
from ..ops import concat_shuffle, halves
from .base import Unit


@register_unit
class HWSUSA(Unit, BaseModule):
    """X-HRNet's parallel SUSA: H-wise on the first half of the channels,
    W-wise on the second half, concatenated and channel-shuffled (2 groups).

    ``forward(x) = shuffle(x * attention(x))``; :meth:`attention` returns the
    ``(N, C, H, W)`` weights before the shuffle (H-wise weights broadcast along
    W for the first half, W-wise along H for the second). Because of the
    shuffle it is a :class:`~.base.Unit` but not an
    :class:`~.base.AttentionUnit` (``forward(x) != x * attention(x)``).

    Args:
        channels (int): Channels of the input; must be even.
        shuffle (bool): Channel-shuffle the result as the authors do. Default: True.
        stripe_size (tuple[int], optional): Stripe sizes of the H- and W-wise
            units. Default: None (their defaults).
        stripe_mode (str): How both units fit their stripe weights to the
            feature size, ``'slice'`` (the authors') or ``'resample'``; see
            :class:`~.susa.SUSA`. Default: 'slice'.
        conv_cfg (dict, optional): Convolution config. Default: None.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> unit = HWSUSA(16)
        >>> print(tuple(unit(torch.rand(2, 16, 24, 18)).shape))
        (2, 16, 24, 18)
    """

    def __init__(self, channels: int, shuffle: bool = True, stripe_size=None, stripe_mode: str = 'slice',
                 conv_cfg=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if channels % 2:
            raise ValueError(f'HWSUSA needs an even number of channels, got {channels}')
        sizes = stripe_size or (None, None)
        half = channels // 2
        self.shuffle = shuffle
        self.h_unit = build_unit(dict(type='SUSA', dim='h', stripe_size=sizes[0], stripe_mode=stripe_mode), half,
                                 conv_cfg=conv_cfg)
        self.w_unit = build_unit(dict(type='SUSA', dim='w', stripe_size=sizes[1], stripe_mode=stripe_mode), half,
                                 conv_cfg=conv_cfg)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        xh, xw = halves(x)
        return torch.cat([self.h_unit.attention(xh).expand_as(xh), self.w_unit.attention(xw).expand_as(xw)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xh, xw = halves(x)
        yh, yw = self.h_unit(xh), self.w_unit(xw)
        return concat_shuffle(yh, yw) if self.shuffle else torch.cat((yh, yw), dim=1)
