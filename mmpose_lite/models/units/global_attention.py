"""Global multi-head self-attention over all positions of a feature map.

`Attention Is All You Need <https://arxiv.org/abs/1706.03762>`_, as the
low-resolution stages of `Slide-Transformer <https://arxiv.org/abs/2304.04237>`_
use it.
"""
import torch

from mmpose_lite.registry import register_unit
from .base import TokenMixer


@register_unit
class GlobalSelfAttention(TokenMixer):
    """Multi-head self-attention of every position with every position.

    A :class:`~.base.TokenMixer` (like :class:`~.slide.SlideAttention`, not
    a multiplicative gate): ``q, k, v`` by one 1x1 convolution, ``softmax(q
    k^T * scale) v`` per head (two ``torch.matmul``, so FLOP counters see
    them), then a 1x1 output projection. Its cost grows with ``(H*W)^2``:
    meant for the 1/16 and 1/32 maps. Its arguments are those of
    :class:`~.base.TokenMixer` (``channels``, ``num_heads``, ``qkv_bias``,
    ``qk_scale``, ``conv_cfg``, ``init_cfg``).

    Example:
        >>> import torch
        >>> unit = GlobalSelfAttention(64, num_heads=2)
        >>> print(tuple(unit(torch.rand(2, 64, 16, 12)).shape))
        (2, 64, 16, 12)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(x).reshape(n, 3, self.num_heads, c // self.num_heads, h * w).unbind(1)
        attn = torch.matmul(q.transpose(-2, -1) * self.scale, k).softmax(dim=-1)  # (n, heads, hw, hw)
        out = torch.matmul(v, attn.transpose(-2, -1))  # (n, heads, d, hw)
        return self.proj(out.reshape(n, c, h, w))
