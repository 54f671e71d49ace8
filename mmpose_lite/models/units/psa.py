"""Polarized self-attention (PSA): channel-only and spatial-only branches.

`Polarized Self-Attention: Towards High-quality Pixel-wise Regression
<https://arxiv.org/abs/2107.00782>`_ (Liu et al., 2021), Sec. 3, Eq. (1)-(5).

Where LayerNorm and softmax sit: the authors' released code (DeLightCMU/PSA)
has no LayerNorm at all and, in the spatial-only branch, applies the softmax
to the spatial map *after* the query-value product instead of to the pooled
query; third-party ports differ again. These units follow the paper's
equations and its Fig. 2, because those define the method the reported
numbers are attributed to and they keep both branches *polarized* (one
dimension collapsed completely, the other kept at high resolution, with the
softmax enhancing the collapsed query):

* channel-only, Eq. (2): ``A_ch = sigmoid(LN(W_z(sigma_1(W_v x) x softmax_HW(sigma_2(W_q x)))))``
  -- softmax over the H*W positions of the one-channel query, LayerNorm over
  the C channels of the ``(C, 1, 1)`` result of ``W_z`` (the paper's
  ``W_z|theta_1``), then sigmoid;
* spatial-only, Eq. (4): ``A_sp = sigmoid(sigma_3(softmax_C(sigma_1(GAP(W_q x))) x sigma_2(W_v x)))``
  -- softmax over the C/2 channels of the globally pooled query, no LayerNorm.
"""
import torch
from mmcv.cnn import ConvModule
from torch import nn

from mmpose_lite.registry import register_unit
from .base import AttentionUnit

_LAYOUTS = ('parallel', 'sequential')


def _conv1x1(cin: int, cout: int, conv_cfg, bias=True):
    # the paper's W_q, W_v, W_z: plain 1x1 convolutions
    return ConvModule(cin, cout, 1, conv_cfg=conv_cfg, norm_cfg=None, act_cfg=None, bias=bias)


class PSABranch(AttentionUnit):
    """What the two branches of PSA share: the query and value projections
    of the input, ``W_q`` and ``W_v: C -> C/2`` (1x1 convs ``wq`` and
    ``wv``). ``W_q`` maps to ``C/2`` channels, or with
    :attr:`single_query` to one channel and without a bias (a constant added
    to every position would cancel in the softmax over positions).
    Subclasses add their own layers after calling ``__init__``.

    Args:
        channels (int): Channels C of the input (>= 2).
        conv_cfg (dict, optional): Convolution config. Default: None.
        init_cfg (dict, optional): Initialization config. Default: None.
    """
    #: ``W_q: C -> 1`` (channel-only branch) instead of ``C -> C/2``
    single_query = False

    def __init__(self, channels: int, conv_cfg=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(channels, int) or channels < 2:
            raise ValueError(f'{type(self).__name__}: channels must be an int >= 2 (the branch halves them), '
                             f'got {channels!r}')
        half = channels // 2
        self.channels = channels
        self.wq = _conv1x1(channels, 1 if self.single_query else half, conv_cfg, bias=not self.single_query)
        self.wv = _conv1x1(channels, half, conv_cfg)


@register_unit
class PSAChannel(PSABranch):
    """The channel-only branch of PSA, Eq. (2) of the paper.

    ``W_q: C -> 1`` and ``W_v: C -> C/2`` (1x1 convs); softmax of the query
    over the H*W positions; the value-query product gives ``(N, C/2, 1, 1)``;
    ``W_z: C/2 -> C`` (1x1 conv), LayerNorm over the C channels, sigmoid.
    :meth:`attention` returns ``(N, C, 1, 1)`` weights in (0, 1);
    ``forward(x) = x * attention(x)``. The LayerNorm is part of the design, so
    only ``conv_cfg`` is taken from a host. ``W_q`` has no bias: a constant
    added to every position cancels in the softmax, so it could never learn.
    The arguments are those of :class:`PSABranch`.

    Example:
        >>> import torch
        >>> unit = PSAChannel(16)
        >>> x = torch.rand(2, 16, 24, 18)
        >>> print(tuple(unit.attention(x).shape), tuple(unit(x).shape))
        (2, 16, 1, 1) (2, 16, 24, 18)
    """
    single_query = True

    def __init__(self, channels: int, conv_cfg=None, init_cfg=None):
        super().__init__(channels, conv_cfg=conv_cfg, init_cfg=init_cfg)
        self.wz = _conv1x1(channels // 2, channels, conv_cfg)
        self.ln = nn.LayerNorm(channels)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        q = self.wq(x).flatten(2).softmax(dim=-1)             # n,1,hw: softmax over positions
        v = self.wv(x).flatten(2)                              # n,c/2,hw
        z = torch.matmul(v, q.transpose(1, 2)).unsqueeze(-1)   # n,c/2,1,1
        z = self.wz(z).view(n, -1)                             # n,c
        return self.ln(z).sigmoid().view(n, -1, 1, 1)          # LayerNorm over channels


@register_unit
class PSASpatial(PSABranch):
    """The spatial-only branch of PSA, Eq. (4) of the paper.

    ``W_q: C -> C/2`` (1x1 conv) then global average pooling and a softmax
    over the C/2 channels; ``W_v: C -> C/2`` (1x1 conv); their product is one
    value per position, reshaped to ``(N, 1, H, W)``, then sigmoid.
    :meth:`attention` returns ``(N, 1, H, W)`` weights in (0, 1);
    ``forward(x) = x * attention(x)``. The arguments are those of
    :class:`PSABranch`.

    Example:
        >>> import torch
        >>> unit = PSASpatial(16)
        >>> x = torch.rand(2, 16, 24, 18)
        >>> print(tuple(unit.attention(x).shape), tuple(unit(x).shape))
        (2, 1, 24, 18) (2, 16, 24, 18)
    """

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        q = self.wq(x).mean(dim=(2, 3)).softmax(dim=1).unsqueeze(1)  # n,1,c/2: softmax over channels
        v = self.wv(x).flatten(2)                                     # n,c/2,hw
        return torch.matmul(q, v).view(n, 1, h, w).sigmoid()


@register_unit
class PSA(AttentionUnit):
    """Polarized self-attention: both branches, in parallel or in sequence.

    * ``layout='parallel'``, Eq. (5):
      ``PSA_p(x) = x * A_ch(x) + x * A_sp(x) = x * (A_ch(x) + A_sp(x))``.
      Its attention is the **sum** of two weights in (0, 1), so it lies in
      **(0, 2)** (the only unit of the package not bounded by 1).
    * ``layout='sequential'``, Eq. (5): ``PSA_s(x) = z * A_sp(z)`` with
      ``z = x * A_ch(x)``, i.e. ``x * A_ch(x) * A_sp(z)``, an attention in (0, 1).

    In both layouts :meth:`attention` returns the full ``(N, C, H, W)``
    weights with ``forward(x) == x * attention(x)``. The branches are
    :class:`PSAChannel` (``channel``) and :class:`PSASpatial` (``spatial``);
    see the module docstring for where LayerNorm and softmax sit and why.

    Args:
        channels (int): Channels C of the input (>= 2).
        layout (str): ``'parallel'`` or ``'sequential'``. Default: 'parallel'.
        conv_cfg (dict, optional): Convolution config. Default: None.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> unit = PSA(16, layout='sequential')
        >>> x = torch.rand(2, 16, 24, 18)
        >>> print(tuple(unit.attention(x).shape), tuple(unit(x).shape))
        (2, 16, 24, 18) (2, 16, 24, 18)
    """

    def __init__(self, channels: int, layout: str = 'parallel', conv_cfg=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if layout not in _LAYOUTS:
            raise ValueError(f'PSA: unknown layout {layout!r}; valid layouts: {list(_LAYOUTS)}')
        self.layout = layout
        self.channel = PSAChannel(channels, conv_cfg=conv_cfg)
        self.spatial = PSASpatial(channels, conv_cfg=conv_cfg)

    def extra_repr(self) -> str:
        return f'layout={self.layout!r}'

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        a_ch = self.channel.attention(x)
        if self.layout == 'parallel':
            return a_ch + self.spatial.attention(x)
        return a_ch * self.spatial.attention(x * a_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == 'parallel':
            return self.channel(x) + self.spatial(x)
        return self.spatial(self.channel(x))
