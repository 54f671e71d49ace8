"""Registries of mmpose_lite.

Every module a config can name is registered into MMPose's own ``MODELS``
registry, so configs keep ``default_scope='mmpose'`` and need nothing but
``custom_imports = dict(imports=['mmpose_lite'])``.

Attention units are additionally recorded in :data:`UNITS`, the registry that
blocks and necks build their pluggable unit from. It lets a host check that
what it was given is a unit and list the valid choices when it is not.
"""
from typing import Dict, Optional, Type

from mmengine.registry import Registry
from mmpose.registry import MODELS

__all__ = ['MODELS', 'UNITS', 'BLOCKS', 'register_unit', 'register_model', 'build_unit', 'build_from', 'lookup']

#: Attention units: ``unit(x) -> x'`` (single resolution) or
#: ``unit([x0, x1, ...]) -> [x0', x1', ...]`` (cross resolution).
UNITS = Registry('attention unit', scope='mmpose_lite')

#: Blocks an HR skeleton stage is built from. They are internal pieces (MMPose
#: registers only top-level modules), so they stay out of MMPose's MODELS. A
#: block declares ``multi_branch``: ``True`` if it maps the list of all branches
#: of a stage module to a new list (conditional channel weighting), ``False``
#: if it maps one branch's tensor (shuffle blocks).
BLOCKS = Registry('hr block', scope='mmpose_lite')

#: Names this package added to MMPose's MODELS registry (used by tests to prove
#: that nothing of MMPose's was shadowed).
REGISTERED_NAMES = []


def register_model(cls: Type) -> Type:
    """Register ``cls`` into MMPose's MODELS registry without overriding.

    ``force=False`` makes MMEngine raise if the name is already taken, so a
    clash with one of MMPose's modules is caught at import time.
    """
    MODELS.register_module(module=cls, force=False)
    REGISTERED_NAMES.append(cls.__name__)
    return cls


def register_unit(cls: Type) -> Type:
    """Register an attention unit into both :data:`UNITS` and MMPose MODELS."""
    UNITS.register_module(module=cls, force=False)
    return register_model(cls)


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
        **defaults: Keyword arguments set when ``cfg`` does not set them
            (typically the host's ``conv_cfg``/``norm_cfg``/``with_cp``). A
            class that declares ``host_kwargs`` only takes those.

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
