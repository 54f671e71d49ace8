"""Lite-HRNet and X-HRNet: one high-resolution lightweight skeleton, presets as data."""
from typing import Dict, Optional, Sequence, Union

import torch
from torch import nn

from mmpose_lite.registry import register_model
from ..blocks import HRModule, IterativeHead, LiteStem, apply_transition, build_transition
from .base import PresetBackbone

_STEM = dict(stem_channels=32, out_channels=32, expand_ratio=1)
_W30 = ((30, 60), (30, 60, 120), (30, 60, 120, 240))
_W40 = ((40, 80), (40, 80, 160), (40, 80, 160, 320))
_NAIVE = dict(type='ShuffleBlock')
_CCW = dict(type='ConditionalChannelWeightingBlock', reduce_ratio=8)
_SX = dict(type='ShuffleBlock', pre=dict(type='SUSA', dim='w'), post=dict(type='SUSA', dim='h'))
_PX = dict(type='ShuffleBlock', pre=dict(type='HWSUSA'), post=dict(type='HWSUSA'))


def _preset(num_channels=_W40, num_modules=(2, 4, 2), transition_relu=True, **kw):
    return dict(stem=_STEM, num_modules=num_modules, num_branches=(2, 3, 4), num_blocks=(2, 2, 2),
                num_channels=num_channels, with_fuse=True, with_head=True, fuse_mode='litehrnet',
                transition_relu=transition_relu, **kw)


@register_model
class LightHRNet(PresetBackbone):
    """The high-resolution lightweight skeleton of Lite-HRNet and X-HRNet.

    `Lite-HRNet: A Lightweight High-Resolution Network
    <https://arxiv.org/abs/2104.06403>`_ and `X-HRNet: Towards Lightweight Human
    Pose Estimation with Spatially Unidimensional Self-Attention
    <https://doi.org/10.1109/ICME52920.2022.9859751>`_.

    A stem down to 1/4 resolution, then stages of parallel branches (each new
    branch at half the resolution of the previous), joined by transition
    layers; every stage module runs a pluggable block per branch (or across
    all branches) and fuses the branches; an optional iterative head merges
    them from the lowest resolution up. The models differ only in the block:

    ==================  ============================================================
    preset              block
    ==================  ============================================================
    ``naive-18``        shuffle block, 1x1 convs (widths 30-240)
    ``wider-naive-18``  shuffle block, 1x1 convs (widths 40-320)
    ``18``, ``30``      conditional channel weighting (cross-resolution + spatial)
    ``s18``, ``s30``    sequential X-shuffle block (W-wise SUSA, dw 3x3, H-wise SUSA)
    ``p18``, ``p30``    parallel X-shuffle block (H-/W-wise SUSA on half the channels)
    ==================  ============================================================

    The Lite-HRNet presets have exactly the parameters of MMPose's
    ``LiteHRNet`` with the matching ``extra`` (same names), so MMPose
    model-zoo checkpoints load strictly and give the same outputs. The
    X-HRNet presets compute the authors' X-HRNet (cool-xuan/x-hrnet): no ReLU
    in the transitions (``transition_relu=False``), SUSA stripe weights
    sliced to the feature size (and extended only above 384x288, where the
    authors' code stops); their checkpoints convert with
    ``tools/convert_checkpoint.py --from xhrnet-authors``.

    Args:
        arch (str | dict): A preset name from :attr:`arch_zoo`, or a dict. A
            dict with a ``base`` key overrides that preset's keys; a dict
            without it must give every key of a preset. Keys: ``stem`` (dict of
            ``stem_channels``, ``out_channels``, ``expand_ratio``),
            ``num_modules``, ``num_branches``, ``num_blocks``, ``num_channels``
            (per stage), ``block`` (a block config, or one per stage),
            ``with_fuse``, ``with_head``, ``fuse_mode`` (``'litehrnet'``
            reproduces the official/MMPose fuse arithmetic, ``'sum'`` is the
            plain HRNet sum), ``transition_relu`` (``True``: every transition
            layer ends with a ReLU, as MMPose's ``LiteHRNet``; ``False``: none
            does, as the X-HRNet authors' code). Default: '18'.
        in_channels (int): Input image channels. Default: 3.
        out_indices (Sequence[int]): Branches to return, 0 being the highest
            resolution. Default: (0, ), as MMPose's ``LiteHRNet``.
        conv_cfg (dict, optional): Convolution config, passed to every block
            and unit. Default: None.
        norm_cfg (dict): Normalization config, passed to every block and unit
            that has a normalization. Default: ``dict(type='BN')``.
        norm_eval (bool): Keep BatchNorm layers in eval mode while training.
            Default: False.
        frozen_stages (int): Freeze the stem (``>= 0``) and the first
            ``frozen_stages`` transitions and stages; -1 freezes nothing.
            Default: -1.
        with_cp (bool): Activation checkpointing in every block. Default: False.
        channels_last (bool, optional): Run (train and infer) in channels-last
            memory format, the input included; the same values, faster on the
            CPU (``python tools/benchmark.py --train-step``). Default: None,
            meaning True (:attr:`default_channels_last`).
        init_cfg (dict | list[dict]): Initialization config. Default: normal
            (std 0.001) for convolutions, constant 1 for norms, as MMPose.

    Example:
        >>> import torch
        >>> from mmpose_lite.models import LightHRNet
        >>> model = LightHRNet(arch='s18', out_indices=(0, 1, 2, 3)).eval()
        >>> for out in model(torch.rand(1, 3, 256, 192)):
        ...     print(tuple(out.shape))
        (1, 40, 64, 48)
        (1, 40, 32, 24)
        (1, 80, 16, 12)
        (1, 160, 8, 6)
    """
    arch_zoo: Dict[str, dict] = {
        'naive-18': _preset(_W30, block=_NAIVE),
        'wider-naive-18': _preset(block=_NAIVE),
        '18': _preset(block=_CCW),
        '30': _preset(num_modules=(3, 8, 3), block=_CCW),
        's18': _preset(block=_SX, transition_relu=False),
        's30': _preset(num_modules=(3, 8, 3), block=_SX, transition_relu=False),
        'p18': _preset(block=_PX, transition_relu=False),
        'p30': _preset(num_modules=(3, 8, 3), block=_PX, transition_relu=False),
    }
    default_arch = '18'
    default_channels_last = True
    _per_stage = ('num_modules', 'num_branches', 'num_blocks', 'num_channels')

    def __init__(self,
                 arch: Union[str, dict] = None,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, ),
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 norm_eval: bool = False,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 channels_last: Optional[bool] = None,
                 init_cfg=[
                     dict(type='Normal', std=0.001, layer=['Conv2d']),
                     dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
                 ]):
        super().__init__(init_cfg=init_cfg)
        spec = self._init_preset(arch, norm_eval, frozen_stages, with_cp)
        self.num_stages = num_stages = self._num_stages(spec)
        self._set_out_indices(out_indices, spec['num_branches'][-1], 'branch')
        self.size_divisor = 2**(max(spec['num_branches']) + 1)

        self.stem = LiteStem(in_channels, **spec['stem'], conv_cfg=conv_cfg, norm_cfg=norm_cfg, with_cp=with_cp)
        channels = [spec['stem']['out_channels']]
        blocks = spec['block'] if isinstance(spec['block'], (list, tuple)) else [spec['block']] * num_stages
        for i in range(num_stages):
            cur = list(spec['num_channels'][i])
            setattr(self, f'transition{i}',
                    build_transition(channels, cur, conv_cfg, norm_cfg, relu=spec['transition_relu']))
            modules = [
                HRModule(cur, spec['num_blocks'][i], blocks[i], multiscale_output=True,
                         with_fuse=spec['with_fuse'], fuse_mode=spec['fuse_mode'], conv_cfg=conv_cfg,
                         norm_cfg=norm_cfg, with_cp=with_cp) for _ in range(spec['num_modules'][i])
            ]
            setattr(self, f'stage{i}', nn.Sequential(*modules))
            channels = cur
        if spec['with_head']:
            self.head_layer = IterativeHead(channels, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
            channels = self.head_layer.out_channels
        #: channels of each returned feature map
        self.out_channels = [channels[i] for i in self.out_indices]
        self._freeze_stages()
        self.set_channels_last(channels_last)

    @classmethod
    def _num_stages(cls, spec: dict) -> int:
        return len(spec['num_modules'])

    @classmethod
    def _validate(cls, spec: dict):
        n = len(spec['num_modules'])
        for key in cls._per_stage:
            if len(spec[key]) != n:
                raise ValueError(f'arch: {key} has {len(spec[key])} entries but num_modules has {n}')
        for i, (nb, ch) in enumerate(zip(spec['num_branches'], spec['num_channels'])):
            if nb != len(ch):
                raise ValueError(f'arch: stage {i} has num_branches={nb} but {len(ch)} num_channels {tuple(ch)}')
            if any(c <= 0 or c % 2 for c in ch):
                raise ValueError(f'arch: stage {i} channels {tuple(ch)} must be positive and even')
        if isinstance(spec['block'], (list, tuple)) and len(spec['block']) != n:
            raise ValueError(f'arch: {len(spec["block"])} blocks given for {n} stages')
        if not isinstance(spec['transition_relu'], bool):
            raise TypeError(f"arch: transition_relu must be a bool, got {spec['transition_relu']!r}")
        if spec['fuse_mode'] not in ('litehrnet', 'sum'):
            raise ValueError(f"arch: fuse_mode must be 'litehrnet' or 'sum', got {spec['fuse_mode']!r}")

    def forward(self, x: torch.Tensor):
        branches = max(self.arch['num_branches'])
        self.check_input_size(x, f'the stem and {branches} branches halve it {branches + 1} times')
        ys = [self.stem(self.prepare_input(x))]
        for i in range(self.num_stages):
            ys = getattr(self, f'stage{i}')(apply_transition(getattr(self, f'transition{i}'), ys))
        if hasattr(self, 'head_layer'):
            ys = self.head_layer(ys)
        return tuple(ys[i] for i in self.out_indices)

    def _frozen_modules(self):
        if self.frozen_stages >= 0:
            yield self.stem
        for i in range(max(self.frozen_stages, 0)):
            yield getattr(self, f'transition{i}')
            yield getattr(self, f'stage{i}')


@register_model
class XHRNet(LightHRNet):
    """X-HRNet: :class:`LightHRNet` with the X-shuffle presets only
    (``s18``, ``s30``, ``p18``, ``p30``; default ``s18``). See
    :class:`LightHRNet` for the arguments.

    Example:
        >>> import torch
        >>> from mmpose_lite.models import XHRNet
        >>> model = XHRNet(arch='p18').eval()
        >>> print(tuple(model(torch.rand(1, 3, 256, 192))[0].shape))
        (1, 40, 64, 48)
    """
    arch_zoo = {k: v for k, v in LightHRNet.arch_zoo.items() if k[0] in 'sp'}
    default_arch = 's18'
