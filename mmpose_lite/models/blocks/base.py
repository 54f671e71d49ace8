"""The block contract: what the skeletons rely on in a block."""
from typing import ClassVar, Tuple

from mmengine.model import BaseModule

from .utils import checkpointed

__all__ = ['BlockBase']


class BlockBase(BaseModule):
    """Base class of the package's blocks (the role of detectron2's
    ``CNNBlockBase``): a block computes :meth:`_forward`, and :meth:`forward`
    runs it through activation checkpointing when ``with_cp`` is set and a
    gradient is needed (a tensor or a list of branch tensors).

    The blocks an HR skeleton stage stacks (the entries of
    :data:`~mmpose_lite.registry.BLOCKS`, registered with
    :func:`~mmpose_lite.registry.register_block`, which checks this) follow
    the rest of the contract:

    * **Construction**: ``cls(channels, **cfg)``; the stage hands down the
      :attr:`host_kwargs` (``conv_cfg``, ``norm_cfg``, ``with_cp``) that
      ``cfg`` leaves unset, and the block passes ``conv_cfg``/``norm_cfg`` on
      to its units.
    * **Shape**: the output has the shape of the input, so blocks stack.
    * :attr:`multi_branch` (declared by each such block): ``True`` if the
      block maps the list of all branches of a stage module to a new list
      (``channels`` is the list of their channels; conditional channel
      weighting), ``False`` if it maps one branch's tensor (``channels`` an
      int; shuffle blocks). :class:`~mmpose_lite.models.blocks.HRModule`
      stacks the former over the list, the latter per branch.

    Args:
        with_cp (bool): Use activation checkpointing. Default: False.
        init_cfg (dict, optional): Initialization config. Default: None.

    Class attributes:
        host_kwargs (tuple[str]): The host settings the block takes.
        multi_branch (bool): See above; no default, so a stage cannot stack
            a block that does not declare it.
    """
    host_kwargs: ClassVar[Tuple[str, ...]] = ('conv_cfg', 'norm_cfg', 'with_cp')
    multi_branch: ClassVar[bool]

    def __init__(self, with_cp: bool = False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp

    def _forward(self, x):
        raise NotImplementedError

    def forward(self, x):
        return checkpointed(self._forward, x, self.with_cp)
