"""The Stacked Hourglass of Newell et al.: stacks, intermediate predictions, feedback."""
import math
from typing import Dict, Union

import torch
from mmcv.cnn import ConvModule, build_conv_layer
from torch import nn

from mmpose_lite.registry import register_model
from ..blocks import HourglassModule, PreActBottleneck
from .base import PresetBackbone


def _preset(num_stacks, num_feats=256, num_modules=1, depth=4, stem_channels=(64, 128)):
    return dict(num_stacks=num_stacks, num_feats=num_feats, num_modules=num_modules, depth=depth,
                stem_channels=stem_channels)


@register_model
class StackedHourglass(PresetBackbone):
    """The top-down Stacked Hourglass network of `Stacked Hourglass Networks for
    Human Pose Estimation <https://arxiv.org/abs/1603.06937>`_ (Newell et al.,
    ECCV 2016), as the authors' ``hg.lua`` builds it.

    Stem: ``7x7/2 conv-BN-ReLU`` (``stem_channels[0]``), a residual to
    ``stem_channels[1]``, 2x2 max-pool, a residual, a residual to ``num_feats``
    (1/4 of the input size). Then ``num_stacks`` stacks, none sharing weights;
    stack ``i`` runs a :class:`HourglassModule`, ``num_modules`` residuals, a
    1x1 conv-BN-ReLU and a 1x1 convolution predicting ``num_joints`` heatmaps.
    Between stacks, the features and the heatmaps are each mapped back to
    ``num_feats`` channels by a 1x1 convolution and added to the stack's input
    (the feedback), which becomes the next stack's input. All residuals are
    :class:`PreActBottleneck`.

    Because the heatmaps of one stack feed the next, the prediction
    convolutions belong to the backbone: it returns every stack's heatmaps
    (a tuple, first stack first). Use it with MMPose's ``CPMHead`` with
    ``in_channels=out_channels=num_joints``, ``num_stages=num_stacks``,
    ``deconv_out_channels=None`` and ``final_layer=None`` (identity stages):
    ``CPMHead`` then applies the same loss against the same target to every
    stack's heatmaps (intermediate supervision) and decodes only the last
    stack's, with flip test.

    ==========  ======  ========  =======  =====  =============
    preset      stacks  features  modules  depth  stem channels
    ==========  ======  ========  =======  =====  =============
    ``hg1``     1       256       1        4      64, 128
    ``hg2``     2       256       1        4      64, 128
    ``hg4``     4       256       1        4      64, 128
    ``hg8``     8       256       1        4      64, 128
    ``tiny``    2       32        1        3      16, 32
    ==========  ======  ========  =======  =====  =============

    ``tiny`` is a CPU-sized model for tests and the synthetic demo data.

    Args:
        arch (str | dict): A preset name from :attr:`arch_zoo`, or a dict. A
            dict with a ``base`` key overrides that preset's keys, e.g.
            ``dict(base='hg8', num_stacks=2)``; a dict without it must give
            every key. Keys: ``num_stacks``, ``num_feats``, ``num_modules``
            (residuals per step), ``depth`` (hourglass downsamplings),
            ``stem_channels`` (two ints). Default: 'hg8'.
        num_joints (int): Heatmaps predicted by every stack. Default: 17.
        in_channels (int): Input image channels. Default: 3.
        conv_cfg (dict, optional): Convolution config, passed to every block.
            Default: None.
        norm_cfg (dict): Normalization config, passed to every block and
            through every hourglass level. Default: ``dict(type='BN')``.
        norm_eval (bool): Keep BatchNorm layers in eval mode while training.
            Default: False.
        frozen_stages (int): Freeze the stem (``>= 0``) and the first
            ``frozen_stages`` stacks with their feedback convolutions; -1
            freezes nothing. Default: -1.
        with_cp (bool): Activation checkpointing in every residual. Default: False.
        init_cfg (dict | list[dict]): Initialization config. Default: the
            Torch7/PyTorch default of the original (uniform with bound
            ``1/sqrt(fan_in)`` for convolutions, zero biases), constant 1 for norms.

    Example:
        >>> import torch
        >>> from mmpose_lite.models import StackedHourglass
        >>> model = StackedHourglass(arch='tiny', num_joints=17).eval()
        >>> for heatmaps in model(torch.rand(1, 3, 128, 96)):
        ...     print(tuple(heatmaps.shape))
        (1, 17, 32, 24)
        (1, 17, 32, 24)
    """
    arch_zoo: Dict[str, dict] = {
        'hg1': _preset(1),
        'hg2': _preset(2),
        'hg4': _preset(4),
        'hg8': _preset(8),
        'tiny': _preset(2, num_feats=32, depth=3, stem_channels=(16, 32)),
    }
    default_arch = 'hg8'

    def __init__(self,
                 arch: Union[str, dict] = None,
                 num_joints: int = 17,
                 in_channels: int = 3,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 norm_eval: bool = False,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 init_cfg=[
                     dict(type='Kaiming', layer='Conv2d', a=math.sqrt(5), mode='fan_in',
                          nonlinearity='leaky_relu', distribution='uniform'),
                     dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
                 ]):
        super().__init__(init_cfg=init_cfg)
        spec = self._init_preset(arch, norm_eval, frozen_stages, with_cp)
        if not isinstance(num_joints, int) or num_joints < 1:
            raise ValueError(f'{type(self).__name__}: num_joints must be a positive int, got {num_joints!r}')
        self.num_stacks = n = spec['num_stacks']
        self.num_joints = num_joints
        #: input height and width must be multiples of this (stem /4, hourglass /2**depth)
        self.size_divisor = 4 * 2**spec['depth']
        #: channels of every returned map (the heatmaps)
        self.out_channels = num_joints

        feats, (c0, c1) = spec['num_feats'], spec['stem_channels']
        host = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, with_cp=with_cp)
        self.stem = nn.Sequential(
            ConvModule(in_channels, c0, 7, stride=2, padding=3, conv_cfg=conv_cfg, norm_cfg=norm_cfg),
            PreActBottleneck(c0, c1, **host),
            nn.MaxPool2d(kernel_size=2, stride=2),
            PreActBottleneck(c1, c1, **host),
            PreActBottleneck(c1, feats, **host))

        def residuals():
            return [PreActBottleneck(feats, feats, **host) for _ in range(spec['num_modules'])]

        def conv1x1(i, o):
            return build_conv_layer(conv_cfg, i, o, 1, bias=True)

        self.hourglasses = nn.ModuleList(
            HourglassModule(spec['depth'], feats, spec['num_modules'], **host) for _ in range(n))
        self.features = nn.ModuleList(
            nn.Sequential(*residuals(), ConvModule(feats, feats, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg))
            for _ in range(n))
        self.predictions = nn.ModuleList(conv1x1(feats, num_joints) for _ in range(n))
        # feedback into stack i + 1: features and heatmaps of stack i, mapped back to num_feats
        self.feature_feedback = nn.ModuleList(conv1x1(feats, feats) for _ in range(n - 1))
        self.heatmap_feedback = nn.ModuleList(conv1x1(num_joints, feats) for _ in range(n - 1))
        self._freeze_stages()

    @classmethod
    def _num_stages(cls, spec: dict) -> int:
        return spec['num_stacks']

    @classmethod
    def _validate(cls, spec: dict):
        for key in ('num_stacks', 'num_modules', 'depth'):
            if not isinstance(spec[key], int) or spec[key] < 1:
                raise ValueError(f'{cls.__name__}: arch {key} must be an int >= 1, got {spec[key]!r}')
        feats = spec['num_feats']
        if not isinstance(feats, int) or feats < 2 or feats % 2:
            raise ValueError(f'{cls.__name__}: arch num_feats must be a positive even int, got {feats!r}')
        stem = spec['stem_channels']
        if (not isinstance(stem, (list, tuple)) or len(stem) != 2
                or any(not isinstance(c, int) or c < 2 or c % 2 for c in stem)):
            raise ValueError(f'{cls.__name__}: arch stem_channels must be two positive even ints, got {stem!r}')

    def forward(self, x: torch.Tensor):
        """Return a tuple of ``num_stacks`` heatmap tensors ``(N, num_joints, H/4, W/4)``."""
        depth = self.arch['depth']
        self.check_input_size(x, f'4 for the stem times 2**depth = {2**depth} for the hourglass of depth {depth}')
        x = self.stem(x)
        outs = []
        for i in range(self.num_stacks):
            y = self.features[i](self.hourglasses[i](x))
            heatmaps = self.predictions[i](y)
            outs.append(heatmaps)
            if i < self.num_stacks - 1:
                x = x + self.feature_feedback[i](y) + self.heatmap_feedback[i](heatmaps)
        return tuple(outs)

    def _frozen_modules(self):
        if self.frozen_stages >= 0:
            yield self.stem
        for i in range(max(self.frozen_stages, 0)):
            yield from (self.hourglasses[i], self.features[i], self.predictions[i])
            if i < self.num_stacks - 1:
                yield from (self.feature_feedback[i], self.heatmap_feedback[i])
