"""Global multi-head self-attention over all positions of a feature map.

`Attention Is All You Need <https://arxiv.org/abs/1706.03762>`_, as the
low-resolution stages of `Slide-Transformer <https://arxiv.org/abs/2304.04237>`_
use it.
"""
from typing import Optional

import torch
from mmcv.cnn import build_conv_layer
from mmengine.model import BaseModule

from mmpose_lite.registry import register_unit


@register_unit
class GlobalSelfAttention(BaseModule):
    """Multi-head self-attention of every position with every position.

    A token mixer with the units' call contract (``unit(x) -> x'``, NCHW, same
    shape, any H x W); like :class:`~.slide.SlideAttention` it is not a
    multiplicative gate. ``q, k, v`` by one 1x1 convolution, ``softmax(q k^T
    / sqrt(d)) v`` per head (two ``torch.matmul``, so FLOP counters see
    them), then a 1x1 output projection. Its cost grows with ``(H*W)^2``:
    meant for the 1/16 and 1/32 maps.

    Args:
        channels (int): Input and output channels.
        num_heads (int, optional): Heads; must divide ``channels``.
            Default: None, meaning ``max(1, channels // 32)``.
        qkv_bias (bool): Bias in the q/k/v convolution. Default: True.
        conv_cfg (dict, optional): Config of the 1x1 convolutions. Default: None.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> unit = GlobalSelfAttention(64, num_heads=2)
        >>> print(tuple(unit(torch.rand(2, 64, 16, 12)).shape))
        (2, 64, 16, 12)
    """
    host_kwargs = ('conv_cfg', )

    def __init__(self, channels: int, num_heads: Optional[int] = None, qkv_bias: bool = True, conv_cfg=None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if num_heads is None:
            num_heads = max(1, channels // 32)
        if not isinstance(num_heads, int) or num_heads <= 0 or channels % num_heads:
            raise ValueError(f'GlobalSelfAttention: num_heads must be a positive int dividing '
                             f'channels={channels}, got {num_heads!r}')
        self.channels = channels
        self.num_heads = num_heads
        self.scale = (channels // num_heads)**-0.5
        self.qkv = build_conv_layer(conv_cfg, channels, 3 * channels, 1, bias=qkv_bias)
        self.proj = build_conv_layer(conv_cfg, channels, channels, 1)

    def extra_repr(self) -> str:
        return f'channels={self.channels}, num_heads={self.num_heads}'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(x).reshape(n, 3, self.num_heads, c // self.num_heads, h * w).unbind(1)
        attn = torch.matmul(q.transpose(-2, -1) * self.scale, k).softmax(dim=-1)  # (n, heads, hw, hw)
        out = torch.matmul(v, attn.transpose(-2, -1))  # (n, heads, d, hw)
        return self.proj(out.reshape(n, c, h, w))
