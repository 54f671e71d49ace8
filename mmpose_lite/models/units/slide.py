"""Slide attention of Slide-Transformer, with an exact deploy merge.

`Slide-Transformer: Hierarchical Vision Transformer with Local Self-Attention
<https://arxiv.org/abs/2304.04237>`_ (Pan et al., CVPR 2023).
"""
from functools import lru_cache
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_
from torch import nn

from mmpose_lite.deploy.fuse import Deployable
from mmpose_lite.registry import register_unit
from .base import TokenMixer

__all__ = ['SlideAttention', 'slide_attention_unfold', 'one_hot_shift_kernels']


def one_hot_shift_kernels(kernel_size: int) -> torch.Tensor:
    """The ``(k*k, 1, k, k)`` one-hot kernels: kernel ``j`` has its single 1 at
    row-major position ``j``, so a depthwise convolution with it moves the
    neighbour at offset ``(j // k - k // 2, j % k - k // 2)`` onto each
    position (zero outside the map)."""
    k = kernel_size
    return torch.eye(k * k).view(k * k, 1, k, k)


@lru_cache(maxsize=32)
def _padding_bias(kernel_size: int, height: int, width: int) -> torch.Tensor:
    """``(k*k, H, W)``: 0 where neighbour ``j`` lies inside the map, -inf where
    it lies in the zero padding."""
    r = kernel_size // 2
    offsets = torch.arange(kernel_size) - r
    rows = torch.arange(height).view(1, -1) + offsets.view(-1, 1)  # (k, H)
    cols = torch.arange(width).view(1, -1) + offsets.view(-1, 1)  # (k, W)
    inside = ((rows >= 0) & (rows < height))[:, None, :, None] & ((cols >= 0) & (cols < width))[None, :, None, :]
    inside = inside.reshape(kernel_size * kernel_size, height, width)
    return torch.zeros(inside.shape).masked_fill_(~inside, float('-inf'))


@register_unit
class SlideAttention(Deployable, TokenMixer):
    """Multi-head slide attention: local self-attention over a k x k window.

    A :class:`~.base.TokenMixer`, not a multiplicative gate: it follows the
    unit contract (``unit(x) -> x'``, NCHW, same channels and spatial size,
    any H x W) so blocks and necks take it by config, but it does not
    subclass :class:`~.base.AttentionUnit` (which computes ``x * a(x)``).

    For each position and head (``K = k*k`` neighbours, ``j`` row-major):

    1. ``q, k, v`` by a 1x1 convolution; logits scaled by ``head_dim ** -0.5``.
    2. *Shift*: the keys and values of the ``K`` neighbours are moved onto
       each position by a depthwise convolution with fixed one-hot kernels
       ``S`` (``K`` output channels per input channel; zero padding).
    3. *Deformed shift*: a learnable depthwise convolution ``D`` of the same
       shape is added (``k_j = conv(k, S_j) + conv(k, D_j)``), so neighbour
       ``j`` can become any mix of the window. ``D`` is shared by the channels
       of a head (separately for keys and values) and starts at zero, i.e.
       training starts from exact local attention.
    4. Logits ``q . k_j`` plus a relative position bias per head and
       neighbour; softmax over the ``K`` neighbours; ``sum_j a_j v_j``; a 1x1
       output projection.

    **Fast path.** Write ``M = S + D`` as a ``K x K`` matrix per head (row
    ``j``: the flattened kernel of neighbour ``j``; ``S`` is the identity).
    Then ``q . k_j = sum_p M[j, p] (q . shift_p(k))`` and
    ``sum_j a_j v_j = sum_p (sum_j a_j M[j, p]) shift_p(v)``: the forward
    computes the ``K`` raw local logits by shifted products (slices of the
    padded keys, no ``K``-fold copy of the features), mixes the small logit
    and weight maps with ``M``, and sums ``K`` shifted values. This equals
    the convolution form exactly (see :func:`slide_attention_unfold` and the
    tests) at a fraction of its memory traffic.

    **Deploy.** :meth:`switch_to_deploy` (of
    :class:`~mmpose_lite.deploy.Deployable`) merges ``S`` and ``D`` into one
    kernel (``merged_shift``) and drops both; :meth:`shift_conv` returns it
    as one depthwise ``nn.Conv2d`` (``2C -> 2C*K``) for runtimes that want
    the convolution form. The authors released no merge.

    ``S`` is a buffer: it is not a parameter, is never trained and is not
    saved (it is rebuilt from ``kernel_size``).

    Differences from the authors' code (LeapLabTHU/Slide-Transformer):
    padded neighbours are masked out of the softmax (``mask_padding=True``;
    ``False`` keeps them with zero keys, i.e. logit = position bias, close to
    the authors' code, whose padded keys are the shift convolutions' biases);
    the position bias is added to the logits (the authors add it to the
    keys, which makes it query dependent); ``D`` is shared by the channels
    of a head and separate for keys and values (the authors share one kernel
    per channel across heads, and by default between keys and values, which
    rules out the fast path); the shift convolutions have no bias (the
    authors' are trained) and ``D`` starts at zero (exact local attention at
    the start of training). docs/architecture.md lists what converting the
    authors' Slide-Swin classification weights would need.

    Args:
        channels (int): Input and output channels.
        num_heads (int, optional): Attention heads; must divide ``channels``.
            Default: None, meaning ``max(1, channels // 32)``.
        kernel_size (int): Odd window size ``k``. Default: 3.
        qkv_bias (bool): Bias in the q/k/v convolution. Default: True.
        qk_scale (float, optional): Logit scale. Default: ``head_dim ** -0.5``.
        mask_padding (bool): Exclude neighbours outside the map from the
            softmax. Default: True.
        conv_cfg (dict, optional): Config of the 1x1 convolutions
            (:class:`~.base.TokenMixer`'s ``qkv`` and ``proj``). Default: None.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> unit = SlideAttention(32, num_heads=2, kernel_size=5)
        >>> print(tuple(unit(torch.rand(2, 32, 63, 47)).shape))
        (2, 32, 63, 47)
        >>> unit.switch_to_deploy()
        >>> print(unit.shift_conv())
        Conv2d(64, 1600, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), groups=64, bias=False)
    """

    def __init__(self,
                 channels: int,
                 num_heads: Optional[int] = None,
                 kernel_size: int = 3,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 mask_padding: bool = True,
                 conv_cfg=None,
                 init_cfg=None):
        super().__init__(channels, num_heads, qkv_bias, qk_scale, conv_cfg, init_cfg)
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'SlideAttention: kernel_size must be an odd positive int, got {kernel_size!r}')
        num_heads = self.num_heads
        self.kernel_size = kernel_size
        self.mask_padding = mask_padding
        kk = kernel_size * kernel_size
        # S (keys, values) x heads, as K x K matrices: the one-hot kernels
        self.register_buffer('shift_kernel',
                             one_hot_shift_kernels(kernel_size).view(1, 1, kk, kk).repeat(2, num_heads, 1, 1),
                             persistent=False)
        # D: the learnable deformed shift, same shape
        self.deform_shift = nn.Parameter(torch.zeros(2, num_heads, kk, kk))
        self.relative_position_bias = nn.Parameter(torch.zeros(num_heads, kk))
        trunc_normal_(self.relative_position_bias, std=0.02)

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, kernel_size={self.kernel_size}, mask_padding={self.mask_padding}, '
                f'deployed={self.deployed}')

    @property
    def deploy(self) -> bool:
        """Read-only alias of :attr:`deployed`, for callers written before it."""
        return self.deployed

    def shift_matrix(self) -> torch.Tensor:
        """``M = S + D``, ``(2, heads, K, K)`` (keys, values): row ``j`` is
        the flattened k x k kernel that produces neighbour ``j``."""
        if self.deployed:
            return self.merged_shift
        return self.shift_kernel + self.deform_shift

    def shift_conv(self) -> nn.Conv2d:
        """The shift as the one depthwise convolution of the paper's form:
        ``nn.Conv2d(2C, 2C*K, k, groups=2C)`` over the keys and values
        concatenated; output channel ``c*K + j`` is neighbour ``j`` of
        channel ``c``."""
        c, k, heads = self.channels, self.kernel_size, self.num_heads
        kk = k * k
        m = self.shift_matrix().detach()
        weight = m[:, :, None].expand(2, heads, c // heads, kk, kk).reshape(2 * c * kk, 1, k, k)
        conv = nn.Conv2d(2 * c, 2 * c * kk, k, padding=k // 2, groups=2 * c, bias=False).to(m)
        conv.weight.data.copy_(weight)
        return conv

    def _deploy(self) -> None:
        """Merge the fixed and the learnable shift into one kernel
        (``merged_shift``, a buffer) and drop both."""
        merged = self.shift_matrix().detach().clone()
        del self.deform_shift
        del self.shift_kernel
        self.register_buffer('merged_shift', merged)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        heads, k = self.num_heads, self.kernel_size
        kk, d, r = k * k, c // heads, k // 2
        q, kv = self.qkv(x).split((c, 2 * c), dim=1)
        kv = F.pad(kv, (r, r, r, r))
        q = q.reshape(n, heads, d, h, w)

        def shifted(start, p):  # shift_p of keys (start=0) or values (start=c)
            i, j = divmod(p, k)
            return kv[:, start:start + c, i:i + h, j:j + w].reshape(n, heads, d, h, w)

        m = self.shift_matrix()
        raw = torch.stack([(q * shifted(0, p)).sum(2) for p in range(kk)], dim=2)  # (n, heads, K, h, w)
        logits = torch.einsum('ejp,nepyx->nejyx', m[0] * self.scale, raw)
        logits = logits + self.relative_position_bias.view(1, heads, kk, 1, 1)
        if self.mask_padding and kk > 1:
            logits = logits + _padding_bias(k, h, w).to(logits)
        weights = torch.einsum('nejyx,ejp->nepyx', logits.softmax(dim=2), m[1])
        out = weights[:, :, 0:1] * shifted(c, 0)
        for p in range(1, kk):
            out = out + weights[:, :, p:p + 1] * shifted(c, p)
        return self.proj(out.reshape(n, c, h, w))


def slide_attention_unfold(unit: SlideAttention, x: torch.Tensor) -> torch.Tensor:
    """Reference: the same function as ``unit(x)`` computed the Im2Col way.

    The k x k windows of keys and values are gathered by ``F.unfold`` into a
    ``K``-fold copy; the shift (fixed + deformed) is applied to the gathered
    window as a per-channel ``K x K`` matrix; padded neighbours are found by
    unfolding a map of ones. Used by the tests and the benchmark.
    """
    n, c, h, w = x.shape
    heads, k = unit.num_heads, unit.kernel_size
    kk, d = k * k, c // heads
    qkv = unit.qkv(x)
    q, keys, values = qkv[:, :c], qkv[:, c:2 * c], qkv[:, 2 * c:]
    if unit.deployed:
        mix = unit.merged_shift
    else:
        mix = torch.eye(kk, dtype=x.dtype, device=x.device) + unit.deform_shift
    mix = mix[:, :, None].expand(2, heads, d, kk, kk).reshape(2, c, kk, kk)

    def windows(t, m):  # (n, c, K neighbours, h*w)
        cols = F.unfold(t, k, padding=k // 2).view(n, c, kk, h * w)
        return torch.einsum('cjp,ncpl->ncjl', m, cols)

    kw = windows(keys, mix[0]).view(n, heads, d, kk, h * w)
    vw = windows(values, mix[1]).view(n, heads, d, kk, h * w)
    logits = torch.einsum('nhdl,nhdjl->nhjl', q.reshape(n, heads, d, h * w), kw) * unit.scale
    logits = logits + unit.relative_position_bias.view(1, heads, kk, 1)
    if unit.mask_padding:
        inside = F.unfold(x.new_ones(1, 1, h, w), k, padding=k // 2)  # (1, K, h*w)
        logits = logits.masked_fill(inside.view(1, 1, kk, h * w) == 0, float('-inf'))
    attn = logits.softmax(dim=2)
    out = torch.einsum('nhjl,nhdjl->nhdl', attn, vw).reshape(n, c, h, w)
    return unit.proj(out)
