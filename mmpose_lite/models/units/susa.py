"""Spatially unidimensional self-attention (SUSA) of X-HRNet.

`X-HRNet: Towards Lightweight Human Pose Estimation with Spatially
Unidimensional Self-Attention <https://doi.org/10.1109/ICME52920.2022.9859751>`_
(Zhou et al., ICME 2022).
"""
from functools import lru_cache

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from mmpose_lite.registry import register_unit
from .base import AttentionUnit


@register_unit
class SUSA(AttentionUnit):
    """H-wise or W-wise spatially unidimensional self-attention.

    For ``dim='h'`` (H-wise; ``'w'`` is the mirror with the two axes swapped):

    1. *Stripe context modelling*: ``x`` is weighted per row by a learnable
       stripe weighting ``g`` and averaged along H, giving one query per column
       ``(N, C, 1, W)``; a depthwise 1x1 convolution follows, then a softmax
       along W. The matrix product of ``x`` with it leaves one context value
       per row and channel: ``(N, C, H, 1)``.
    2. *Spatially unidimensional transform*: a 1x1 convolution, LayerNorm over
       the channels at each row, and a sigmoid give the attention ``a`` of
       shape ``(N, C, H, 1)`` (``(N, C, 1, W)`` for ``dim='w'``).
    3. *Aggregation*: ``x * a``, broadcast along the other axis.

    The authors' code stores ``g`` for a fixed 96x72 feature map and slices it,
    so inputs above 384x288 fail (and smaller maps use only its first rows).
    Here ``g`` holds ``stripe_size`` values describing the weighting along the
    whole axis and is resampled to the actual length (bin averages when
    shrinking, linear interpolation when enlarging), so any input size works,
    every weight learns from every resolution, and ``stripe_size`` equal to
    the feature length reproduces the original exactly. Both convolutions keep their bias and the LayerNorm is fixed by
    the design, so only ``conv_cfg`` is taken from the host.

    Args:
        channels (int): Channels of the input.
        dim (str): ``'h'`` for H-wise, ``'w'`` for W-wise attention. Default: 'h'.
        stripe_size (int, optional): Number of learnable stripe weights.
            Default: None, meaning 96 for ``'h'`` and 72 for ``'w'`` (the
            highest-resolution feature map of a 384x288 input).
        conv_cfg (dict, optional): Convolution config. Default: None.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> unit = SUSA(16, dim='w')
        >>> x = torch.rand(2, 16, 24, 18)
        >>> print(tuple(unit.attention(x).shape), tuple(unit(x).shape))
        (2, 16, 1, 18) (2, 16, 24, 18)
    """
    host_kwargs = ('conv_cfg', )

    def __init__(self, channels: int, dim: str = 'h', stripe_size=None, conv_cfg=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if dim not in ('h', 'w'):
            raise ValueError(f"SUSA: dim must be 'h' or 'w', got {dim!r}")
        if stripe_size is None:
            stripe_size = 96 if dim == 'h' else 72
        if not isinstance(stripe_size, int) or stripe_size < 2:
            raise ValueError(f'SUSA: stripe_size must be an int >= 2, got {stripe_size!r}')
        self.dim = dim
        self.channels = channels
        self.stripe_size = stripe_size  # a Python int: a tracer sees a constant, not numel()
        self.stripe_weight = nn.Parameter(torch.ones(stripe_size))
        self.mean_conv = ConvModule(channels, channels, 1, groups=channels, conv_cfg=conv_cfg,
                                    norm_cfg=None, act_cfg=None)
        self.conv = ConvModule(channels, channels, 1, conv_cfg=conv_cfg, norm_cfg=None, act_cfg=None)
        self.ln = nn.LayerNorm(channels)

    def extra_repr(self) -> str:
        return f'dim={self.dim!r}, stripe_size={self.stripe_weight.numel()}'

    def stripe(self, length: int) -> torch.Tensor:
        """The stripe weighting resampled to ``length`` positions: averaged
        over bins when shrinking (so every weight contributes), linearly
        interpolated when enlarging, unchanged at ``stripe_size``.

        The resampling is a constant matrix for a given length (see
        :func:`stripe_resampling`), so traced and exported graphs (ONNX) see a
        plain matrix product instead of adaptive pooling."""
        size, length = self.stripe_size, int(length)
        if length == size:
            return self.stripe_weight
        m = stripe_resampling(size, length).to(self.stripe_weight)
        return torch.mv(m, self.stripe_weight)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        # Both reductions are matrix products over the last two axes (no
        # broadcast copy of x): H-wise pools rows (g^T x) and keeps rows (x q^T);
        # W-wise pools columns (x g) and keeps columns (q^T x).
        if self.dim == 'h':
            g = self.stripe(x.shape[2]).view(1, -1)
            query = self.mean_conv(torch.matmul(g, x) / x.shape[2]).softmax(dim=3)  # n,c,1,w
            context = torch.matmul(x, query.transpose(2, 3))  # n,c,h,1
        else:
            g = self.stripe(x.shape[3]).view(-1, 1)
            query = self.mean_conv(torch.matmul(x, g) / x.shape[3]).softmax(dim=2)  # n,c,h,1
            context = torch.matmul(query.transpose(2, 3), x)  # n,c,1,w
        a = self.conv(context)
        a = self.ln(a.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # LayerNorm over channels
        return a.sigmoid()


@lru_cache(maxsize=64)
def stripe_resampling(size: int, length: int) -> torch.Tensor:
    """The ``(length, size)`` matrix that resamples ``size`` stripe weights to
    ``length`` positions: the bins of ``F.adaptive_avg_pool1d`` when
    shrinking, ``F.interpolate(mode='linear', align_corners=True)`` when
    enlarging (equal to both up to float rounding)."""
    m = np.zeros((length, size), dtype=np.float64)  # numpy: a tracer records one constant
    if length <= size:
        for i in range(length):
            start, end = (i * size) // length, -((-(i + 1) * size) // length)
            m[i, start:end] = 1.0 / (end - start)
    else:
        for i in range(length):
            pos = i * (size - 1) / (length - 1)
            lo = min(int(pos), size - 2)
            frac = pos - lo
            m[i, lo] += 1 - frac
            m[i, lo + 1] += frac
    return torch.from_numpy(m).float()
