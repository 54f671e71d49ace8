"""MMPose's ResNet and HRNet with an attention unit in every residual block.

PSA-ResNet and PSA-HRNet of `Polarized Self-Attention: Towards High-quality
Pixel-wise Regression <https://arxiv.org/abs/2107.00782>`_ are these
backbones with ``unit=dict(type='PSA', layout=...)``; any other unit of
``UNITS`` (SUSA, SpatialWeighting, ...) swaps in by config. Both are MMPose's
own classes fed the unit blocks through their ``arch_settings`` /
``blocks_dict`` mechanics (as per-instance copies: MMPose's class-level dicts
are never modified), so everything else (stem, stages, fuse layers,
``frozen_stages``, ``norm_eval``, ``with_cp``, init) is MMPose's.
"""
import copy
from typing import Optional, Sequence

from mmpose.models.backbones import HRNet, ResNet
from mmpose.models.backbones.resnet import BasicBlock, Bottleneck

from mmpose_lite.registry import UNITS, lookup, register_model
from ..blocks.unit_resblocks import UnitBasicBlock, UnitBottleneck
from ..strict_load import StrictLoadMixin

_PSA = dict(type='PSA', layout='parallel')
_UNIT_BLOCKS = {BasicBlock: UnitBasicBlock, Bottleneck: UnitBottleneck}


def _check_unit(unit, owner: str):
    if unit is not None:
        try:
            lookup(UNITS, unit)
        except (KeyError, TypeError) as err:
            raise type(err)(f'{owner}: bad unit: {err.args[0]}') from None
    return copy.deepcopy(unit)


def _unit_block(block, unit):
    """The unit version of MMPose's block class ``block`` with ``unit`` bound."""
    return _UNIT_BLOCKS[block].with_unit(unit)


@register_model
class AttentionResNet(StrictLoadMixin, ResNet):
    """MMPose's ``ResNet`` with an attention unit in every residual block.

    The unit sits after the first 3x3 convolution's normalization and
    activation (Bottleneck: ``conv2 - norm2 - relu``; BasicBlock: ``conv1 -
    norm1 - relu``), as PSA-ResNet places PSA. Parameter names are MMPose's,
    so a plain MMPose/torchvision-style ResNet checkpoint loads with only the
    ``unit.*`` keys missing.

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        unit (dict, optional): Unit config, built from ``UNITS`` for each
            block's middle channels. None gives MMPose's plain ResNet.
            Default: ``dict(type='PSA', layout='parallel')`` (PSA-ResNet).
        **kwargs: Every other argument of MMPose's ``ResNet`` (``out_indices``,
            ``frozen_stages``, ``norm_eval``, ``with_cp``, ``conv_cfg``,
            ``norm_cfg`` -- both passed down to the blocks and their units --,
            ``init_cfg``, ...).

    Example:
        >>> import torch
        >>> from mmpose_lite.models import AttentionResNet
        >>> model = AttentionResNet(depth=18, out_indices=(0, 1, 2, 3)).eval()
        >>> for out in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(out.shape))
        (1, 64, 16, 16)
        (1, 128, 8, 8)
        (1, 256, 4, 4)
        (1, 512, 2, 2)
    """

    def __init__(self, depth: int, unit: Optional[dict] = _PSA, **kwargs):
        if depth not in ResNet.arch_settings:
            raise KeyError(f'AttentionResNet: invalid depth {depth!r}; valid depths: {sorted(ResNet.arch_settings)}')
        self.unit_cfg = _check_unit(unit, 'AttentionResNet')
        block, stages = ResNet.arch_settings[depth]
        # an instance attribute shadowing (not modifying) MMPose's class dict
        self.arch_settings = {depth: (_unit_block(block, self.unit_cfg), stages)}
        super().__init__(depth, **kwargs)

    def train(self, mode: bool = True):
        """MMPose's ``train`` (frozen stages, ``norm_eval``), returning ``self``."""
        super().train(mode)
        return self


@register_model
class AttentionHRNet(StrictLoadMixin, HRNet):
    """MMPose's ``HRNet`` with an attention unit in its residual blocks.

    PSA-HRNet puts PSA in HRNet's basic blocks (the blocks of the parallel
    branches); ``unit_blocks`` can add the stage-1 bottlenecks too. The unit
    sits after the first 3x3 convolution's normalization and activation.
    Parameter names are MMPose's, so an MMPose HRNet checkpoint loads with
    only the ``unit.*`` keys missing.

    Args:
        extra (dict): MMPose's HRNet ``extra`` (stage specs).
        unit (dict, optional): Unit config, built from ``UNITS`` for each
            block's middle channels. None gives MMPose's plain HRNet.
            Default: ``dict(type='PSA', layout='parallel')`` (PSA-HRNet).
        unit_blocks (Sequence[str]): Which of HRNet's block types carry the
            unit: ``'BASIC'`` and/or ``'BOTTLENECK'``. Default: ('BASIC', ).
        **kwargs: Every other argument of MMPose's ``HRNet`` (``in_channels``,
            ``conv_cfg``, ``norm_cfg`` -- passed down to the blocks and their
            units --, ``norm_eval``, ``with_cp``, ``frozen_stages``, ...).

    Example:
        >>> import torch
        >>> from mmpose_lite.models import AttentionHRNet
        >>> stage = lambda n, block, ch: dict(num_modules=1, num_branches=n, block=block,
        ...                                   num_blocks=(1, ) * n, num_channels=ch)
        >>> extra = dict(stage1=stage(1, 'BOTTLENECK', (8, )), stage2=stage(2, 'BASIC', (8, 16)),
        ...              stage3=stage(3, 'BASIC', (8, 16, 32)), stage4=stage(4, 'BASIC', (8, 16, 32, 64)))
        >>> model = AttentionHRNet(extra, unit=dict(type='PSA', layout='sequential')).eval()
        >>> for out in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(out.shape))
        (1, 8, 16, 16)
    """
    valid_unit_blocks = ('BASIC', 'BOTTLENECK')

    def __init__(self, extra: dict, unit: Optional[dict] = _PSA, unit_blocks: Sequence[str] = ('BASIC', ),
                 **kwargs):
        self.unit_cfg = _check_unit(unit, 'AttentionHRNet')
        if isinstance(unit_blocks, str) or not set(unit_blocks) <= set(self.valid_unit_blocks):
            raise ValueError(f'AttentionHRNet: unit_blocks must be a sequence of {list(self.valid_unit_blocks)}, '
                             f'got {unit_blocks!r}')
        self.unit_blocks = tuple(unit_blocks)
        # an instance attribute shadowing (not modifying) MMPose's class dict
        self.blocks_dict = {
            name: _unit_block(block, self.unit_cfg) if name in self.unit_blocks else block
            for name, block in HRNet.blocks_dict.items()
        }
        super().__init__(extra, **kwargs)

    def train(self, mode: bool = True):
        """MMPose's ``train`` (frozen stages, ``norm_eval``), returning ``self``."""
        super().train(mode)
        return self
