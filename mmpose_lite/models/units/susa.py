"""Spatially unidimensional self-attention (SUSA) of X-HRNet.

`X-HRNet: Towards Lightweight Human Pose Estimation with Spatially
Unidimensional Self-Attention <https://doi.org/10.1109/ICME52920.2022.9859751>`_
(Zhou et al., ICME 2022).
"""
from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule

from mmpose_lite.deploy.fuse import Deployable
from mmpose_lite.registry import register_unit
from ..ops import channels_inner
from .base import AttentionUnit


@register_unit
class SUSA(Deployable, AttentionUnit):
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

    The stripe weighting ``g`` is stored as ``stripe_size`` values (the
    authors' ``group_weight`` of a 96x72 map, a 384x288 input). How a feature
    map of length ``L`` along the attended axis uses them is
    ``stripe_mode``:

    * ``'slice'`` (default, the authors' rule): row ``i`` gets ``g[i]``, i.e.
      the first ``L`` values for ``L <= stripe_size``, exactly as the authors'
      ``group_weight[:, :, :L]``. Beyond the stored size (inputs above
      384x288, where the authors' code fails) the last value is repeated
      (edge padding): row ``i`` gets ``g[min(i, stripe_size - 1)]``. A row's
      weight never depends on ``L``, so every length's weighting is a prefix
      of every longer one's and nothing jumps at ``stripe_size``.
    * ``'resample'``: ``g`` describes the whole axis and is resampled to
      ``L`` (bin averages when shrinking, linear interpolation when
      enlarging; unchanged at ``L == stripe_size``), so every weight learns
      from every resolution. Not the authors' function below 384x288: their
      checkpoints need ``'slice'``.

    Both convolutions keep their bias and the LayerNorm is fixed by the
    design, so only ``conv_cfg`` is taken from the host.

    Args:
        channels (int): Channels of the input.
        dim (str): ``'h'`` for H-wise, ``'w'`` for W-wise attention. Default: 'h'.
        stripe_size (int, optional): Number of learnable stripe weights.
            Default: None, meaning 96 for ``'h'`` and 72 for ``'w'`` (the
            highest-resolution feature map of a 384x288 input).
        stripe_mode (str): ``'slice'`` or ``'resample'`` (see above).
            Default: 'slice'.
        conv_cfg (dict, optional): Convolution config. Default: None.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> unit = SUSA(16, dim='w')
        >>> x = torch.rand(2, 16, 24, 18)
        >>> print(tuple(unit.attention(x).shape), tuple(unit(x).shape))
        (2, 16, 1, 18) (2, 16, 24, 18)
    """

    #: the ways :meth:`stripe` maps the stored weights to a feature length
    stripe_modes = ('slice', 'resample')

    def __init__(self, channels: int, dim: str = 'h', stripe_size=None, stripe_mode: str = 'slice', conv_cfg=None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if dim not in ('h', 'w'):
            raise ValueError(f"SUSA: dim must be 'h' or 'w', got {dim!r}")
        if stripe_size is None:
            stripe_size = 96 if dim == 'h' else 72
        if not isinstance(stripe_size, int) or stripe_size < 2:
            raise ValueError(f'SUSA: stripe_size must be an int >= 2, got {stripe_size!r}')
        if stripe_mode not in self.stripe_modes:
            raise ValueError(f'SUSA: stripe_mode must be one of {self.stripe_modes}, got {stripe_mode!r}')
        self.stripe_mode = stripe_mode
        self.dim = dim
        self.channels = channels
        self.stripe_size = stripe_size  # a Python int: tracers see a constant, not numel()
        self.stripe_weight = nn.Parameter(torch.ones(stripe_size))
        self.mean_conv = ConvModule(channels, channels, 1, groups=channels, conv_cfg=conv_cfg,
                                    norm_cfg=None, act_cfg=None)
        self.conv = ConvModule(channels, channels, 1, conv_cfg=conv_cfg, norm_cfg=None, act_cfg=None)
        self.ln = nn.LayerNorm(channels)
        self._mean_weights = {}  # deploy form: (length, device, dtype) -> weights

    def extra_repr(self) -> str:
        return f'dim={self.dim!r}, stripe_size={self.stripe_weight.numel()}, stripe_mode={self.stripe_mode!r}'

    def stripe(self, length: int) -> torch.Tensor:
        """The stripe weighting of a feature map ``length`` positions long.

        ``'slice'``: the first ``length`` stored values, the last one
        repeated beyond ``stripe_size``. ``'resample'``: the stored values
        averaged over bins when shrinking, linearly interpolated when
        enlarging (a constant matrix per length, :func:`stripe_resampling`).
        Either way traced graphs (ONNX) see a slice, a constant or a plain
        matrix product, and the result is the stored vector itself at
        ``stripe_size``.

        Args:
            length (int): The feature map's size along the attended axis.

        Returns:
            torch.Tensor: ``(length, )`` weights (differentiable in
            :attr:`stripe_weight`).
        """
        size, length = self.stripe_size, int(length)
        if length == size:
            return self.stripe_weight
        if self.stripe_mode == 'slice':
            if length < size:
                return self.stripe_weight[:length]
            return torch.cat((self.stripe_weight, self.stripe_weight[-1:].expand(length - size)))
        m = stripe_resampling(size, length).to(self.stripe_weight)
        return torch.mv(m, self.stripe_weight)

    def mean_weights(self, length: int) -> torch.Tensor:
        """``stripe(length) / length``: the weights of the stripe-weighted
        mean along the attended axis. Constant once :attr:`deployed` (the
        stripe weights are final), so the deploy form keeps them per length
        (and device, dtype) instead of recomputing them in every call."""
        if not self.deployed:
            return self.stripe(length) / length
        key = (int(length), self.stripe_weight.device, self.stripe_weight.dtype)
        if key not in self._mean_weights:
            self._mean_weights[key] = (self.stripe(length) / length).detach()
        return self._mean_weights[key]

    def _deploy(self) -> None:
        """Inference only from here: :meth:`mean_weights` keeps what it
        computes (from an empty store)."""
        self._mean_weights = {}

    def _pointwise(self, module: ConvModule, t: torch.Tensor, depthwise: bool,
                   channels_first: bool = False) -> torch.Tensor:
        """A 1x1 ``ConvModule`` (no norm, no activation) applied to ``t`` of
        shape ``(N, L, C)`` (or ``(N, C, L)`` with ``channels_first``, for the
        depthwise one). With plain ``Conv2d`` layers this is a per-channel
        affine map (depthwise) or a matrix product: the same arithmetic as the
        convolution on a ``(N, C, L, 1)`` map, in one kernel and without a
        oneDNN call per tiny tensor. Other ``conv_cfg`` layers run as given."""
        conv = module.conv
        if type(conv) is not nn.Conv2d:
            if channels_first:
                return module(t.unsqueeze(-1)).squeeze(-1)
            return module(t.permute(0, 2, 1).unsqueeze(-1)).squeeze(-1).permute(0, 2, 1)
        if not depthwise:
            return F.linear(t, conv.weight.view(self.channels, self.channels), conv.bias)
        shape = (self.channels, 1) if channels_first else (self.channels, )
        weight = conv.weight.view(shape)
        return t * weight if conv.bias is None else torch.addcmul(conv.bias.view(shape), t, weight)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        # The stripe pooling and the context are matrix products (or, on a
        # channels-last x, products over its contiguous (H, W*C) rows). On
        # NCHW the query stays (N, C, L') (softmax along the last axis, no
        # transposes); on channels-last it is (N, L', C), channels innermost
        # like x. The context and the attention are (N, L, C), L the kept
        # axis, so the 1x1 convolution is a matrix product and the LayerNorm
        # needs no permute.
        # -1 for the batch everywhere: a traced graph (ONNX) keeps a dynamic batch
        c, h, w = (int(s) for s in x.shape[1:])
        inner = channels_inner(x)
        xl = x.permute(0, 2, 3, 1) if inner else None  # n,h,w,c
        if self.dim == 'h':  # weighted mean over H, softmax along W, context per row
            g = self.mean_weights(h)
            if inner:
                pooled = torch.matmul(g.view(1, 1, h), xl.reshape(-1, h, w * c)).view(-1, w, c)
                query = self._pointwise(self.mean_conv, pooled, depthwise=True).softmax(dim=1)  # n,w,c
                context = (xl * query.unsqueeze(1)).sum(dim=2)  # n,h,c
            else:
                pooled = torch.matmul(g.view(1, h), x).view(-1, c, w)
                query = self._pointwise(self.mean_conv, pooled, True, channels_first=True).softmax(-1)  # n,c,w
                context = torch.matmul(x, query.unsqueeze(-1)).view(-1, c, h).transpose(1, 2)
        else:  # weighted mean over W, softmax along H, context per column
            g = self.mean_weights(w)
            if inner:
                pooled = torch.matmul(g.view(1, w), xl.reshape(-1, w, c)).view(-1, h, c)
                query = self._pointwise(self.mean_conv, pooled, depthwise=True).softmax(dim=1)  # n,h,c
                context = (xl * query.unsqueeze(2)).sum(dim=1)  # n,w,c
            else:
                pooled = torch.matmul(x, g.view(w, 1)).view(-1, c, h)
                query = self._pointwise(self.mean_conv, pooled, True, channels_first=True).softmax(-1)  # n,c,h
                context = torch.matmul(query.unsqueeze(2), x).view(-1, c, w).transpose(1, 2)
        a = self.ln(self._pointwise(self.conv, context, depthwise=False)).sigmoid()  # n,L,c
        return a.transpose(1, 2).unsqueeze(-1) if self.dim == 'h' else a.transpose(1, 2).unsqueeze(2)


@lru_cache(maxsize=64)
def stripe_resampling(size: int, length: int) -> torch.Tensor:
    """The ``(length, size)`` matrix that resamples ``size`` stripe weights to
    ``length`` positions: the bins of ``F.adaptive_avg_pool1d`` when
    shrinking, ``F.interpolate(mode='linear', align_corners=True)`` when
    enlarging (equal to both up to float rounding)."""
    # Vectorised torch ops on constants, no loops: eager calls hit the cache,
    # a tracer (ONNX) folds them into one constant, and torch.compile traces a
    # handful of ops instead of a loop.
    i = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    j = torch.arange(size, dtype=torch.float64).unsqueeze(0)
    if length <= size:
        start = torch.floor(i * size / length)
        end = torch.ceil((i + 1) * size / length)
        m = ((j >= start) & (j < end)).double() / (end - start)
    else:
        pos = i * (size - 1) / (length - 1)
        lo = torch.clamp(torch.floor(pos), max=size - 2)
        frac = pos - lo
        m = (j == lo).double() * (1 - frac) + (j == lo + 1).double() * frac
    return m.float()
