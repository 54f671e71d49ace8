"""Polarized self-attention (PSA): channel-only and spatial-only branches.

`Polarized Self-Attention: Towards High-quality Pixel-wise Regression
<https://arxiv.org/abs/2107.00782>`_ (Liu et al., 2021), Sec. 3, Eq. (1)-(5).

Two forms of the same two branches (``form``):

``form='paper'`` (the default) follows the paper's equations and its Fig. 2,
because those define the method and keep both branches *polarized* (one
dimension collapsed completely, the other kept at high resolution, with the
softmax enhancing the collapsed query):

* channel-only, Eq. (2): ``A_ch = sigmoid(LN(W_z(sigma_1(W_v x) x softmax_HW(sigma_2(W_q x)))))``
  -- softmax over the H*W positions of the one-channel query, LayerNorm over
  the C channels of the ``(C, 1, 1)`` result of ``W_z`` (the paper's
  ``W_z|theta_1``), then sigmoid;
* spatial-only, Eq. (4): ``A_sp = sigmoid(sigma_3(softmax_C(sigma_1(GAP(W_q x))) x sigma_2(W_v x)))``
  -- softmax over the C/2 channels of the globally pooled query, no LayerNorm.

``form='authors'`` computes what the authors' released classes compute
(``PSA_p`` and ``PSA_s`` in DeLightCMU/PSA, ``semantic-segmentation/network/PSA.py``),
so that their weights converted by ``mmpose_lite.convert`` (source
``psa-authors``) give their outputs. Their two classes differ from the paper,
and from each other:

* no bias in ``W_q`` and ``W_v`` of either branch;
* channel-only of ``PSA_p``: ``W_z`` without bias and no LayerNorm;
  of ``PSA_s``: ``W_z`` is a bottleneck ``1x1 conv (C/2 -> C/8, bias) - LayerNorm
  over the C/8 channels - ReLU - 1x1 conv (C/8 -> C, bias)``;
* spatial-only of ``PSA_p``: no softmax on the pooled query; the softmax is taken
  over the H*W positions of the query-value product, before the sigmoid;
  of ``PSA_s``: no softmax on the pooled query; the value ``W_v x`` goes through
  a softmax over the H*W positions of each channel before the product.

The initialization is the authors' in both forms (their ``reset_parameters``):
``W_q`` and ``W_v`` Kaiming-normal with ``mode='fan_in'`` and zero bias,
``W_z`` PyTorch's default, LayerNorm ones and zeros. MMCV's ``ConvModule``
default (``mode='fan_out'``) would give the one-channel query of the
channel-only branch a weight std of sqrt(2) and an almost one-hot softmax at
the start of training. Inside a host, the host's ``init_cfg`` reaches the
unit's convolutions (MMEngine does not call ``init_weights`` through
``nn.Sequential``): MMPose's ``HRNet`` draws them from N(0, 0.001), as the
authors' HRNet does for their PSA modules; MMPose's ``ResNet`` uses Kaiming
with fan_out.
"""
import torch
from mmcv.cnn import ConvModule
from mmengine.model import initialize
from torch import nn

from mmpose_lite.registry import register_unit
from .base import AttentionUnit

_LAYOUTS = ('parallel', 'sequential')
_FORMS = ('paper', 'authors')
#: a branch's form: the paper's equations, or the branch of the authors' ``PSA_p`` / ``PSA_s``
_BRANCH_FORMS = ('paper', 'authors_p', 'authors_s')


def _conv1x1(cin: int, cout: int, conv_cfg, bias=True):
    # the paper's W_q, W_v, W_z: plain 1x1 convolutions
    return ConvModule(cin, cout, 1, conv_cfg=conv_cfg, norm_cfg=None, act_cfg=None, bias=bias)


class PSABranch(AttentionUnit):
    """What the two branches of PSA share: the query and value projections
    of the input, ``W_q`` and ``W_v: C -> C/2`` (1x1 convs ``wq`` and
    ``wv``). ``W_q`` maps to ``C/2`` channels, or with
    :attr:`single_query` to one channel and without a bias (a constant added
    to every position would cancel in the softmax over positions).
    Subclasses add their own layers in :meth:`_build`.

    Args:
        channels (int): Channels C of the input (>= 2).
        form (str): ``'paper'`` (the paper's equations), ``'authors_p'`` or
            ``'authors_s'`` (the branch as the authors' ``PSA_p`` /
            ``PSA_s`` computes it; see the module docstring). Default: 'paper'.
        conv_cfg (dict, optional): Convolution config. Default: None.
        init_cfg (dict, optional): Initialization config; when given, it
            replaces the authors' initialization. Default: None.
    """
    #: ``W_q: C -> 1`` (channel-only branch) instead of ``C -> C/2``
    single_query = False

    def __init__(self, channels: int, form: str = 'paper', conv_cfg=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(channels, int) or channels < 2:
            raise ValueError(f'{type(self).__name__}: channels must be an int >= 2 (the branch halves them), '
                             f'got {channels!r}')
        if form not in _BRANCH_FORMS:
            raise ValueError(f'{type(self).__name__}: unknown form {form!r}; valid forms: {list(_BRANCH_FORMS)}')
        half = channels // 2
        self.channels = channels
        self.form = form
        paper = form == 'paper'
        self.wq = _conv1x1(channels, 1 if self.single_query else half, conv_cfg,
                           bias=paper and not self.single_query)
        self.wv = _conv1x1(channels, half, conv_cfg, bias=paper)
        self._build(channels, conv_cfg)
        self._reset_parameters()

    def _build(self, channels: int, conv_cfg):
        """Add the branch's own layers (called by ``__init__``)."""

    def extra_repr(self) -> str:
        return f'form={self.form!r}'

    def _reset_parameters(self):
        """The authors' initialization (see the module docstring)."""
        for m in (self.wq, self.wv):
            nn.init.kaiming_normal_(m.conv.weight, mode='fan_in', nonlinearity='relu')
            if m.conv.bias is not None:
                nn.init.zeros_(m.conv.bias)
        for name, m in self.named_modules():
            if name not in ('wq', 'wq.conv', 'wv', 'wv.conv') and isinstance(m, (nn.Conv2d, nn.LayerNorm)):
                m.reset_parameters()

    def init_weights(self):
        """MMEngine's ``init_weights``, whose recursion re-runs MMCV's
        ``ConvModule`` init (Kaiming, fan_out) after ``init_cfg``; then
        ``init_cfg`` again if given, else the authors' initialization."""
        fresh = not self.is_init
        super().init_weights()
        if fresh:
            if self.init_cfg:
                initialize(self, self.init_cfg)
            else:
                self._reset_parameters()


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

    The authors' forms: ``'authors_p'`` has no LayerNorm and no biases;
    ``'authors_s'`` makes ``W_z`` a bottleneck, ``wz: C/2 -> C/8``, LayerNorm
    ``ln`` over C/8, ReLU, ``wz_out: C/8 -> C``. The arguments are those of
    :class:`PSABranch`.

    Example:
        >>> import torch
        >>> unit = PSAChannel(16)
        >>> x = torch.rand(2, 16, 24, 18)
        >>> print(tuple(unit.attention(x).shape), tuple(unit(x).shape))
        (2, 16, 1, 1) (2, 16, 24, 18)
    """
    single_query = True

    def _build(self, channels: int, conv_cfg):
        half = channels // 2
        if self.form == 'authors_s' and half < 4:
            raise ValueError(f'PSAChannel: form \'authors_s\' needs channels >= 8 (its bottleneck has C/8 '
                             f'channels), got {channels}')
        hidden = half // 4 if self.form == 'authors_s' else channels
        self.wz = _conv1x1(half, hidden, conv_cfg, bias=self.form != 'authors_p')
        self.ln = nn.LayerNorm(hidden) if self.form != 'authors_p' else None
        self.wz_out = _conv1x1(hidden, channels, conv_cfg) if self.form == 'authors_s' else None

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        q = self.wq(x).flatten(2).softmax(dim=-1)             # n,1,hw: softmax over positions
        v = self.wv(x).flatten(2)                              # n,c/2,hw
        z = torch.matmul(v, q.transpose(1, 2)).unsqueeze(-1)   # n,c/2,1,1
        z = self.wz(z).view(n, -1)                             # n,c (n,c/8 for authors_s)
        if self.ln is not None:
            z = self.ln(z)                                     # LayerNorm over channels
        if self.wz_out is not None:
            z = self.wz_out(z.relu().view(n, -1, 1, 1)).view(n, -1)
        return z.sigmoid().view(n, -1, 1, 1)


@register_unit
class PSASpatial(PSABranch):
    """The spatial-only branch of PSA, Eq. (4) of the paper.

    ``W_q: C -> C/2`` (1x1 conv) then global average pooling and a softmax
    over the C/2 channels; ``W_v: C -> C/2`` (1x1 conv); their product is one
    value per position, reshaped to ``(N, 1, H, W)``, then sigmoid.
    :meth:`attention` returns ``(N, 1, H, W)`` weights in (0, 1);
    ``forward(x) = x * attention(x)``.

    The authors' forms have no biases and no softmax on the pooled query;
    ``'authors_p'`` takes the softmax of the product over the H*W positions,
    ``'authors_s'`` that of the value over each channel's H*W positions.
    The arguments are those of :class:`PSABranch`.

    Example:
        >>> import torch
        >>> unit = PSASpatial(16)
        >>> x = torch.rand(2, 16, 24, 18)
        >>> print(tuple(unit.attention(x).shape), tuple(unit(x).shape))
        (2, 1, 24, 18) (2, 16, 24, 18)
    """

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        q = self.wq(x).mean(dim=(2, 3)).unsqueeze(1)   # n,1,c/2
        v = self.wv(x).flatten(2)                      # n,c/2,hw
        if self.form == 'paper':
            q = q.softmax(dim=-1)                      # softmax over channels
        elif self.form == 'authors_s':
            v = v.softmax(dim=-1)                      # softmax of each value channel over positions
        s = torch.matmul(q, v)                         # n,1,hw
        if self.form == 'authors_p':
            s = s.softmax(dim=-1)                      # softmax of the product over positions
        return s.view(n, 1, h, w).sigmoid()


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
    see the module docstring for where LayerNorm and softmax sit, why, and
    what ``form='authors'`` changes.

    Args:
        channels (int): Channels C of the input (>= 2; >= 8 for the
            sequential authors' form).
        layout (str): ``'parallel'`` or ``'sequential'``. Default: 'parallel'.
        form (str): ``'paper'`` (the paper's equations) or ``'authors'``
            (what the authors' ``PSA_p`` / ``PSA_s`` compute, for their
            weights). Default: 'paper'.
        conv_cfg (dict, optional): Convolution config. Default: None.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> unit = PSA(16, layout='sequential')
        >>> x = torch.rand(2, 16, 24, 18)
        >>> print(tuple(unit.attention(x).shape), tuple(unit(x).shape))
        (2, 16, 24, 18) (2, 16, 24, 18)
    """

    def __init__(self, channels: int, layout: str = 'parallel', form: str = 'paper', conv_cfg=None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if layout not in _LAYOUTS:
            raise ValueError(f'PSA: unknown layout {layout!r}; valid layouts: {list(_LAYOUTS)}')
        if form not in _FORMS:
            raise ValueError(f'PSA: unknown form {form!r}; valid forms: {list(_FORMS)}')
        self.layout = layout
        self.form = form
        branch_form = 'paper' if form == 'paper' else f'authors_{layout[0]}'
        self.channel = PSAChannel(channels, form=branch_form, conv_cfg=conv_cfg)
        self.spatial = PSASpatial(channels, form=branch_form, conv_cfg=conv_cfg)

    def extra_repr(self) -> str:
        return f'layout={self.layout!r}, form={self.form!r}'

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        a_ch = self.channel.attention(x)
        if self.layout == 'parallel':
            return a_ch + self.spatial.attention(x)
        return a_ch * self.spatial.attention(x * a_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == 'parallel':
            return self.channel(x) + self.spatial(x)
        return self.spatial(self.channel(x))
