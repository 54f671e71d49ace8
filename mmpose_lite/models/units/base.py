"""The unit contract: what blocks, necks and backbones rely on in a unit.

Every entry of :data:`~mmpose_lite.registry.UNITS` subclasses :class:`Unit`
(``register_unit`` checks it), through one of the bases below:

* :class:`AttentionUnit`: a single-resolution gate, ``unit(x) = x * a(x)``;
* :class:`CrossResolutionUnit`: a gate over the list of branches;
* :class:`TokenMixer`: multi-head attention that mixes positions (not a gate).

Units outside these (``PointwiseConv``, an MMCV ``ConvModule``; ``HWSUSA``)
subclass :class:`Unit` directly. A unit with an inference-only rewrite also
subclasses :class:`~mmpose_lite.deploy.Deployable`.
"""
from typing import ClassVar, List, Optional, Tuple

import torch
from mmcv.cnn import build_conv_layer
from mmengine.model import BaseModule
from torch import nn

from ..ops import mul_nearest

__all__ = ['Unit', 'AttentionUnit', 'CrossResolutionUnit', 'TokenMixer']


class Unit:
    """The contract of a unit (a mixin: no ``__init__``, no parameters).

    * **Construction**: ``cls(channels, **cfg)``: ``channels`` is an int, or
      for a cross-resolution unit the list of the branches' channels; a host
      adds the settings named in :attr:`host_kwargs` when ``cfg`` leaves them.
    * **Call**: ``unit(x)`` returns a tensor of ``x``'s shape (N, C, H, W),
      for any H x W; a cross-resolution unit maps a list of tensors to a list
      of tensors of the same shapes. So hosts swap one unit for another by
      config.
    * **Input**: :meth:`input_conv` names the 1x1 convolution through which
      alone the unit reads its input, if there is one, so that a host can
      fold a normalization placed before the unit into it (deploy form).
    * **Deploy**: a unit with an exact inference-only rewrite subclasses
      :class:`~mmpose_lite.deploy.Deployable` too.

    Class attributes:
        host_kwargs (tuple[str]): The host settings the unit takes (of
            ``conv_cfg``, ``norm_cfg``). Default: ``('conv_cfg', )``; a unit
            with a configurable normalization adds ``norm_cfg``, a unit whose
            design fixes its normalization (or has none) does not.
        cross_resolution (bool): Whether the unit maps a list of branches.
    """
    host_kwargs: ClassVar[Tuple[str, ...]] = ('conv_cfg', )
    cross_resolution: ClassVar[bool] = False

    def input_conv(self) -> Optional[nn.Conv2d]:
        """The 1x1 convolution every use of the input goes through, or None
        (the default: the unit uses its input otherwise too, e.g. ``x * a(x)``)."""
        return None


class AttentionUnit(Unit, BaseModule):
    """Base class of single-resolution attention units: ``unit(x) = x * a(x)``.

    Subclasses implement :meth:`attention`, which returns weights in (0, 1)
    that broadcast against ``x`` (their shape is documented per unit).
    """

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class CrossResolutionUnit(Unit, BaseModule):
    """Base class of cross-resolution units: ``[x_i] -> [x_i * a_i]``.

    :meth:`attention` returns one weight tensor per branch, each at the
    resolution of the smallest branch; :meth:`forward` applies them.
    """
    cross_resolution = True

    def attention(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        raise NotImplementedError

    def forward(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        return [mul_nearest(x, a) for x, a in zip(xs, self.attention(xs))]


class TokenMixer(Unit, BaseModule):
    """Base class of the multi-head attention token mixers.

    A token mixer replaces each position by a mix of (a window of) positions;
    it is not a multiplicative gate, and it keeps the unit contract (NCHW in,
    the same shape out, any H x W). This base builds what the mixers share:
    ``q, k, v`` by one 1x1 convolution (``qkv``, ``C -> 3C``; the input is
    read only through it, see :meth:`input_conv`), the logit scale and the
    1x1 output projection (``proj``).

    Args:
        channels (int): Input and output channels.
        num_heads (int, optional): Attention heads; must divide ``channels``.
            Default: None, meaning ``max(1, channels // 32)``.
        qkv_bias (bool): Bias in the q/k/v convolution. Default: True.
        qk_scale (float, optional): Logit scale. Default: ``head_dim ** -0.5``.
        conv_cfg (dict, optional): Config of the 1x1 convolutions. Default: None.
        init_cfg (dict, optional): Initialization config. Default: None.
    """

    def __init__(self, channels: int, num_heads: Optional[int] = None, qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, conv_cfg=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        if not isinstance(channels, int) or channels <= 0:
            raise ValueError(f'{name}: channels must be a positive int, got {channels!r}')
        if num_heads is None:
            num_heads = max(1, channels // 32)
        if not isinstance(num_heads, int) or num_heads <= 0 or channels % num_heads:
            raise ValueError(f'{name}: num_heads must be a positive int dividing channels={channels}, '
                             f'got {num_heads!r}')
        self.channels = channels
        self.num_heads = num_heads
        self.scale = qk_scale if qk_scale is not None else (channels // num_heads)**-0.5
        self.qkv = build_conv_layer(conv_cfg, channels, 3 * channels, 1, bias=qkv_bias)
        self.proj = build_conv_layer(conv_cfg, channels, channels, 1)

    def extra_repr(self) -> str:
        return f'channels={self.channels}, num_heads={self.num_heads}'

    def input_conv(self) -> nn.Conv2d:
        return self.qkv
