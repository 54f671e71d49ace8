"""A neck that applies any attention unit to the outputs of any backbone."""
import copy
from typing import Optional, Sequence, Union

import torch
from mmengine.model import BaseModule
from torch import nn

from mmpose_lite.registry import UNITS, build_unit, lookup, register_model
from ..strict_load import StrictLoadMixin


def _as_list(channels, name: str):
    channels = [channels] if isinstance(channels, int) else list(channels)
    if not channels or not all(isinstance(c, int) and c > 0 for c in channels):
        raise ValueError(f'{name}: in_channels must be a positive int or a non-empty sequence of them, '
                         f'got {channels!r}')
    return channels


@register_model
class AttentionNeck(StrictLoadMixin, BaseModule):
    """Apply an attention unit of ``UNITS`` to one or all backbone outputs.

    This is how a unit (PSA, SUSA, Lite-HRNet's spatial weighting, ...) goes
    on top of any MMPose backbone by config alone, e.g. on MMPose's HRNet-W32::

        model = dict(neck=dict(type='AttentionNeck', in_channels=32, unit=dict(type='PSA')))

    Single-resolution units get one instance per selected output (built for
    its channels); a cross-resolution unit (e.g. ``CrossResolutionWeighting``)
    gets one instance for the list of the selected outputs. Outputs keep their
    shapes, so the head needs no change; outputs not selected pass through.

    Args:
        in_channels (int | Sequence[int]): Channels of each backbone output.
        unit (dict): Unit config. Default: ``dict(type='PSA', layout='parallel')``.
        indices (int | Sequence[int], optional): Which outputs get the unit
            (negative indices count from the end). Default: None (all).
        conv_cfg (dict, optional): Convolution config passed to the units that
            take one. Default: None.
        norm_cfg (dict): Normalization config passed to the units that take
            one. Default: ``dict(type='BN')``.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> neck = AttentionNeck([8, 16], unit=dict(type='SUSA', dim='h'), indices=-1)
        >>> outs = neck((torch.rand(1, 8, 16, 12), torch.rand(1, 16, 8, 6)))
        >>> print([tuple(o.shape) for o in outs])
        [(1, 8, 16, 12), (1, 16, 8, 6)]
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 unit: dict = dict(type='PSA', layout='parallel'),
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = _as_list(in_channels, 'AttentionNeck')
        n = len(self.in_channels)
        indices = range(n) if indices is None else [indices] if isinstance(indices, int) else indices
        if not all(isinstance(i, int) and -n <= i < n for i in indices) or not len(indices):
            raise ValueError(f'AttentionNeck: indices must be ints in [{-n}, {n}) for {n} inputs, got {indices!r}')
        self.indices = sorted({i % n for i in indices})
        try:
            cls = lookup(UNITS, unit)
        except (KeyError, TypeError) as err:
            raise type(err)(f'AttentionNeck: bad unit: {err.args[0]}') from None
        self.unit_cfg = copy.deepcopy(unit)
        self.cross_resolution = cls.cross_resolution
        host = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        if self.cross_resolution:
            self.units = nn.ModuleList([build_unit(unit, [self.in_channels[i] for i in self.indices], **host)])
        else:
            self.units = nn.ModuleList([build_unit(unit, self.in_channels[i], **host) for i in self.indices])

    def forward(self, inputs):
        single = isinstance(inputs, torch.Tensor)
        xs = [inputs] if single else list(inputs)
        if len(xs) != len(self.in_channels):
            raise ValueError(f'AttentionNeck: built for {len(self.in_channels)} inputs, got {len(xs)}')
        if self.cross_resolution:
            ys = self.units[0]([xs[i] for i in self.indices])
        else:
            ys = [unit(xs[i]) for unit, i in zip(self.units, self.indices)]
        for i, y in zip(self.indices, ys):
            xs[i] = y
        return xs[0] if single else tuple(xs)
