"""Registries of mmpose_lite and the one way to register into them.

Every module a config can name is registered into MMPose's own ``MODELS``
registry, so configs keep ``default_scope='mmpose'`` and need nothing but
``custom_imports = dict(imports=['mmpose_lite'])``. Registration is always a
decorator from this module, which also checks the class's contract:

* :func:`register_model`: top-level modules (backbones, necks), into ``MODELS``;
* :func:`register_unit`: attention units and token mixers, into :data:`UNITS`
  and ``MODELS``; the class follows the unit contract,
  :class:`mmpose_lite.models.units.base.Unit`;
* :func:`register_block`: blocks an HR skeleton stage stacks, into
  :data:`BLOCKS` only; the class follows the block contract,
  :class:`mmpose_lite.models.blocks.base.BlockBase`, and declares
  ``multi_branch``.

Every registration uses ``force=False``: a name already taken (one of
MMPose's, or twice ours) raises at import time instead of shadowing.
"""
from typing import Dict, Optional, Type

from mmengine.registry import Registry
from mmpose.registry import MODELS

__all__ = [
    'MODELS', 'UNITS', 'BLOCKS', 'HOST_KWARGS', 'register_model', 'register_unit', 'register_block', 'build_unit',
    'build_from', 'lookup'
]

#: Attention units: ``unit(x) -> x'`` (single resolution) or
#: ``unit([x0, x1, ...]) -> [x0', x1', ...]`` (cross resolution).
UNITS = Registry('attention unit', scope='mmpose_lite')

#: Blocks an HR skeleton stage is built from. They are internal pieces (MMPose
#: registers only top-level modules), so they stay out of MMPose's MODELS.
BLOCKS = Registry('hr block', scope='mmpose_lite')

#: The settings a host (block, neck, stage) may hand down to what it builds
#: when the config does not set them; a class lists the ones it takes in
#: ``host_kwargs``.
HOST_KWARGS = ('conv_cfg', 'norm_cfg', 'with_cp')


def register_model(cls: Type) -> Type:
    """Register ``cls`` into MMPose's MODELS registry without overriding.

    ``force=False`` makes MMEngine raise if the name is already taken, so a
    clash with one of MMPose's modules is caught at import time.
    """
    MODELS.register_module(module=cls, force=False)
    return cls


def _check_host_kwargs(cls: Type, allowed) -> None:
    accepted = getattr(cls, 'host_kwargs', None)
    if not isinstance(accepted, tuple) or not set(accepted) <= set(allowed):
        raise TypeError(f'{cls.__name__}: host_kwargs must be a tuple of names from {list(allowed)}, '
                        f'got {accepted!r}')


def register_unit(cls: Type) -> Type:
    """Register an attention unit (or token mixer) into :data:`UNITS` and MMPose's MODELS.

    Raises:
        TypeError: If ``cls`` does not follow the unit contract (subclass
            :class:`~mmpose_lite.models.units.base.Unit`, a ``host_kwargs``
            tuple of ``conv_cfg``/``norm_cfg``, a bool ``cross_resolution``).
    """
    # imported here: the unit modules import this one while the models package loads
    from mmpose_lite.models.units.base import Unit
    if not (isinstance(cls, type) and issubclass(cls, Unit)):
        raise TypeError(f'{cls!r} is not a unit: subclass mmpose_lite.models.units.base.Unit (or one of '
                        f'AttentionUnit, CrossResolutionUnit, TokenMixer) to register it in UNITS')
    _check_host_kwargs(cls, HOST_KWARGS[:2])
    if not isinstance(cls.cross_resolution, bool):
        raise TypeError(f'{cls.__name__}: cross_resolution must be a bool, got {cls.cross_resolution!r}')
    UNITS.register_module(module=cls, force=False)
    return register_model(cls)


def register_block(cls: Type) -> Type:
    """Register a block an HR stage can stack into :data:`BLOCKS`.

    Raises:
        TypeError: If ``cls`` does not follow the block contract (subclass
            :class:`~mmpose_lite.models.blocks.base.BlockBase`, declare a bool
            ``multi_branch``, a ``host_kwargs`` tuple of ``conv_cfg``,
            ``norm_cfg``, ``with_cp``).
    """
    # imported here: the block modules import this one while the models package loads
    from mmpose_lite.models.blocks.base import BlockBase
    if not (isinstance(cls, type) and issubclass(cls, BlockBase)):
        raise TypeError(f'{cls!r} is not a block: subclass mmpose_lite.models.blocks.base.BlockBase to '
                        f'register it in BLOCKS')
    if not isinstance(getattr(cls, 'multi_branch', None), bool):
        raise TypeError(f'{cls.__name__}: a BLOCKS entry declares multi_branch = True (it maps the list of all '
                        f'branches) or False (it maps one branch), got {getattr(cls, "multi_branch", None)!r}')
    _check_host_kwargs(cls, HOST_KWARGS)
    BLOCKS.register_module(module=cls, force=False)
    return cls


def lookup(registry: Registry, cfg) -> Type:
    """The class a config dict names in ``registry``, or an error listing the valid names."""
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'a {registry.name} config must be a dict with a "type" key, got {cfg!r}; '
                        f'valid types: {sorted(registry.module_dict)}')
    cls = cfg['type'] if isinstance(cfg['type'], type) else registry.get(cfg['type'])
    if cls is None:
        raise KeyError(f'unknown {registry.name} type {cfg["type"]!r}; '
                       f'valid types: {sorted(registry.module_dict)}')
    return cls


def build_from(registry: Registry, cfg: Optional[Dict], channels, **defaults):
    """Build a unit or block for ``channels`` from a config dict.

    Args:
        registry (Registry): :data:`UNITS` or :data:`BLOCKS`.
        cfg (dict | None): Config, e.g. ``dict(type='SUSA', dim='h')``.
            ``None`` returns ``None``.
        channels (int | Sequence[int]): Channels the module operates on (a
            list for cross-resolution units and multi-branch blocks).
        **defaults: Host settings (:data:`HOST_KWARGS`) set when ``cfg`` does
            not set them; the class takes only those it lists in its
            ``host_kwargs``.

    Returns:
        nn.Module | None: The module.
    """
    if cfg is None:
        return None
    cls = lookup(registry, cfg)
    kwargs = {k: v for k, v in cfg.items() if k != 'type'}
    accepted = getattr(cls, 'host_kwargs', None)
    for key, value in defaults.items():
        if accepted is None or key in accepted:
            kwargs.setdefault(key, value)
    return cls(channels, **kwargs)


def build_unit(cfg: Optional[Dict], channels, **defaults):
    """Build an attention unit from :data:`UNITS` (see :func:`build_from`)."""
    return build_from(UNITS, cfg, channels, **defaults)
