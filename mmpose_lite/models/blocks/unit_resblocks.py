"""MMPose's residual blocks with an attention unit after the first 3x3 conv.

`Polarized Self-Attention <https://arxiv.org/abs/2107.00782>`_ places PSA
after the first 3x3 convolution's normalization and activation of every
residual block; these blocks do that for any unit of ``UNITS``.
"""
from functools import partial

from mmpose.models.backbones.resnet import BasicBlock, Bottleneck

from mmpose_lite.registry import build_unit

_PSA = dict(type='PSA', layout='parallel')


class _UnitBlockMixin:
    """Adds ``self.unit`` to one of MMPose's blocks without touching its code.

    MMPose's ``forward`` applies ``relu(norm(conv_3x3(...)))`` and hands the
    result to the next convolution (:attr:`unit_input_of`). The unit runs in a
    forward pre-hook of that convolution, so it sees exactly the activated
    features, and MMPose's forward (including its ``with_cp`` path), its
    parameter names and its initialization stay as they are: an MMPose
    checkpoint loads, the unit's ``unit.*`` keys being the only new ones.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        unit (dict, optional): Unit config, built from ``UNITS`` for the
            block's middle channels (``out_channels / expansion``) with the
            block's ``conv_cfg``/``norm_cfg`` as defaults. None gives MMPose's
            plain block. Default: ``dict(type='PSA', layout='parallel')``.
        **kwargs: Every other argument of MMPose's block (``stride``,
            ``dilation``, ``downsample``, ``with_cp``, ``conv_cfg``,
            ``norm_cfg``, ...).
    """
    unit_input_of = None

    def __init__(self, in_channels: int, out_channels: int, unit=_PSA, **kwargs):
        super().__init__(in_channels, out_channels, **kwargs)
        self.unit = build_unit(unit, self.mid_channels, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg)
        if self.unit is not None:
            # a bound method (not a lambda): deepcopy (EMA) rebinds it to the copy
            getattr(self, self.unit_input_of).register_forward_pre_hook(self._apply_unit)

    def _apply_unit(self, module, args):
        return (self.unit(args[0]), ) + tuple(args[1:])

    @classmethod
    def with_unit(cls, unit):
        """A constructor with ``unit`` bound, usable wherever MMPose expects a
        block class (``ResNet.arch_settings``, ``HRNet.blocks_dict``): it
        carries the ``expansion`` that ``get_expansion`` looks for."""
        ctor = partial(cls, unit=unit)
        ctor.expansion = cls.default_expansion
        ctor.__name__ = cls.__name__
        return ctor


class UnitBasicBlock(_UnitBlockMixin, BasicBlock):
    """MMPose's ``BasicBlock`` with a unit after ``conv1 - norm1 - relu``.

    The arguments are those of :class:`_UnitBlockMixin` (``in_channels``,
    ``out_channels``, ``unit``, and MMPose's ``BasicBlock``'s).

    Example:
        >>> import torch
        >>> block = UnitBasicBlock(16, 16, unit=dict(type='PSA', layout='sequential'))
        >>> print(tuple(block(torch.rand(1, 16, 8, 6)).shape))
        (1, 16, 8, 6)
    """
    unit_input_of = 'conv2'
    default_expansion = 1


class UnitBottleneck(_UnitBlockMixin, Bottleneck):
    """MMPose's ``Bottleneck`` with a unit after ``conv2 (3x3) - norm2 - relu``.

    The arguments are those of :class:`_UnitBlockMixin` (``in_channels``,
    ``out_channels``, ``unit``, and MMPose's ``Bottleneck``'s).

    Example:
        >>> import torch
        >>> block = UnitBottleneck(32, 32, unit=dict(type='SUSA', dim='h'))
        >>> print(tuple(block(torch.rand(1, 32, 8, 6)).shape))
        (1, 32, 8, 6)
    """
    unit_input_of = 'conv3'
    default_expansion = 4
