"""SlidePoseNet: a hierarchical Slide-Transformer backbone for top-down pose."""
from typing import Dict, Sequence, Union

import torch
from mmcv.cnn import ConvModule
from torch import nn

from mmpose_lite.registry import register_model
from ..blocks import TokenMixerBlock
from .base import PresetBackbone

_SLIDE = dict(type='SlideAttention', kernel_size=3)
_GLOBAL = dict(type='GlobalSelfAttention')
_MIXERS = (_SLIDE, _SLIDE, _GLOBAL, _GLOBAL)


@register_model
class SlidePoseNet(PresetBackbone):
    """A four-stage Slide-Transformer backbone for top-down pose estimation.

    `Slide-Transformer: Hierarchical Vision Transformer with Local
    Self-Attention <https://arxiv.org/abs/2304.04237>`_ (Pan et al., CVPR 2023).

    A stem of two stride-2 ``3x3 conv - norm - act`` down to 1/4, then four
    stages at 1/4, 1/8, 1/16 and 1/32 of the input, each a stride-2 ``3x3
    conv - norm`` downsampling (not in stage 0) followed by
    :class:`~mmpose_lite.models.blocks.TokenMixerBlock` s. As in the paper,
    the high-resolution stages 0-1 mix tokens with local slide attention
    (:class:`~mmpose_lite.models.units.SlideAttention`) and the
    low-resolution stages 2-3 with global self-attention; any unit can be
    set per stage by config. Any input divisible by 32 works (no fixed
    resolution anywhere).

    ==========  ===================  ==========  =========================
    preset      widths               depths      mixers
    ==========  ===================  ==========  =========================
    ``light``   32, 64, 128, 256     2, 2, 4, 2  slide k3, slide k3, global x2
    ``base``    48, 96, 192, 384     2, 2, 6, 2  slide k3, slide k3, global x2
    ==========  ===================  ==========  =========================

    Args:
        arch (str | dict): A preset name from :attr:`arch_zoo`, or a dict. A
            dict with a ``base`` key overrides that preset's keys; a dict
            without it must give every key. Keys: ``stem_channels``,
            ``widths`` (4 stages), ``depths`` (blocks per stage), ``mixers``
            (a unit config per stage), ``mlp_ratio``. Default: 'light'.
        in_channels (int): Input image channels. Default: 3.
        out_indices (Sequence[int]): Stages to return (0: 1/4 ... 3: 1/32).
            Default: (0, 1, 2, 3).
        conv_cfg (dict, optional): Convolution config, passed to every block
            and unit. Default: None.
        norm_cfg (dict): Normalization config of the stem, downsamplings and
            blocks. Default: ``dict(type='BN')``.
        act_cfg (dict): Activation of the stem and FFNs. Default: ``dict(type='GELU')``.
        norm_eval (bool): Keep BatchNorm layers in eval mode while training.
            Default: False.
        frozen_stages (int): Freeze the stem (``>= 0``) and the first
            ``frozen_stages`` stages; -1 freezes nothing. Default: -1.
        with_cp (bool): Activation checkpointing in every block. Default: False.
        init_cfg (dict | list[dict]): Initialization config. Default:
            truncated normal (std 0.02) for convolutions, constant 1 for norms.

    Example:
        >>> import torch
        >>> from mmpose_lite.models import SlidePoseNet
        >>> model = SlidePoseNet(arch='light').eval()
        >>> for out in model(torch.rand(1, 3, 256, 192)):
        ...     print(tuple(out.shape))
        (1, 32, 64, 48)
        (1, 64, 32, 24)
        (1, 128, 16, 12)
        (1, 256, 8, 6)
    """
    arch_zoo: Dict[str, dict] = {
        'light': dict(stem_channels=16, widths=(32, 64, 128, 256), depths=(2, 2, 4, 2), mixers=_MIXERS,
                      mlp_ratio=2),
        'base': dict(stem_channels=24, widths=(48, 96, 192, 384), depths=(2, 2, 6, 2), mixers=_MIXERS,
                     mlp_ratio=2),
    }
    default_arch = 'light'
    num_stages = 4
    size_divisor = 32

    def __init__(self,
                 arch: Union[str, dict] = None,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='GELU'),
                 norm_eval: bool = False,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 init_cfg=[
                     dict(type='TruncNormal', std=0.02, layer=['Conv2d']),
                     dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
                 ]):
        super().__init__(init_cfg=init_cfg)
        spec = self._init_preset(arch, norm_eval, frozen_stages, with_cp)
        self._set_out_indices(out_indices, self.num_stages, 'stage')

        conv = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        stem = spec['stem_channels']
        self.stem = nn.Sequential(
            ConvModule(in_channels, stem, 3, stride=2, padding=1, act_cfg=act_cfg, **conv),
            ConvModule(stem, spec['widths'][0], 3, stride=2, padding=1, act_cfg=act_cfg, **conv))
        prev = spec['widths'][0]
        for i, (width, depth, mixer) in enumerate(zip(spec['widths'], spec['depths'], spec['mixers'])):
            layers = [] if i == 0 else [ConvModule(prev, width, 3, stride=2, padding=1, act_cfg=None, **conv)]
            layers += [
                TokenMixerBlock(width, mixer=mixer, mlp_ratio=spec['mlp_ratio'], act_cfg=act_cfg, with_cp=with_cp,
                                **conv) for _ in range(depth)
            ]
            setattr(self, f'stage{i}', nn.Sequential(*layers))
            prev = width
        #: channels of each returned feature map
        self.out_channels = [spec['widths'][i] for i in self.out_indices]
        self._freeze_stages()

    @classmethod
    def _validate(cls, spec: dict):
        for key in ('widths', 'depths', 'mixers'):
            if len(spec[key]) != cls.num_stages:
                raise ValueError(f'arch: {key} needs {cls.num_stages} entries (one per stage), '
                                 f'got {len(spec[key])}')
        if any(not isinstance(v, int) or v <= 0 for v in (*spec['widths'], spec['stem_channels'])):
            raise ValueError(f'arch: widths {tuple(spec["widths"])} and stem_channels {spec["stem_channels"]!r} '
                             'must be positive ints')
        if any(not isinstance(v, int) or v < 0 for v in spec['depths']):
            raise ValueError(f'arch: depths {tuple(spec["depths"])} must be ints >= 0')
        if not spec['mlp_ratio'] > 0:
            raise ValueError(f'arch: mlp_ratio must be positive, got {spec["mlp_ratio"]!r}')

    def forward(self, x: torch.Tensor):
        self.check_input_size(x, 'the stem and three downsamplings halve it five times')
        x = self.stem(x)
        outs = []
        for i in range(self.num_stages):
            x = getattr(self, f'stage{i}')(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _frozen_modules(self):
        if self.frozen_stages >= 0:
            yield self.stem
        for i in range(max(self.frozen_stages, 0)):
            yield getattr(self, f'stage{i}')
