"""The call contract shared by all attention units."""
from typing import List

import torch
from mmengine.model import BaseModule

from ..ops import mul_nearest


class AttentionUnit(BaseModule):
    """Base class of single-resolution attention units: ``unit(x) = x * a(x)``.

    Subclasses implement :meth:`attention`, which returns weights in (0, 1)
    that broadcast against ``x`` (their shape is documented per unit). Every
    unit keeps the channel count and the spatial size of its input, so hosts
    (blocks, necks) can swap one unit for another by config.

    Class attributes:
        host_kwargs (tuple[str]): The keyword arguments a host may pass down
            (e.g. its ``conv_cfg``/``norm_cfg``) when the unit's config does
            not set them. A unit whose design fixes its normalization leaves
            ``norm_cfg`` out.
    """
    host_kwargs = ('conv_cfg', 'norm_cfg')

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class CrossResolutionUnit(BaseModule):
    """Base class of cross-resolution units: ``[x_i] -> [x_i * a_i]``.

    :meth:`attention` returns one weight tensor per branch, each at the
    resolution of the smallest branch; :meth:`forward` applies them.
    """
    host_kwargs = ('conv_cfg', 'norm_cfg')

    def attention(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        raise NotImplementedError

    def forward(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        return [mul_nearest(x, a) for x, a in zip(xs, self.attention(xs))]

