"""Our backbones and necks refuse weights that do not cover them.

MMPose's ``init_model`` and ``MMPoseInferencer`` (and MMEngine's Runner
outside training) load checkpoints with MMEngine's ``load_checkpoint(...,
strict=False)``, which only *warns* when the checkpoint does not fit: a
checkpoint of another backbone then silently evaluates random weights.

Without patching anything global, every backbone and neck this package
registers carries :class:`StrictLoadMixin`: when weights are loaded into a
model that contains it (whatever loads them: torch's or MMEngine's
``load_state_dict``, ``init_model``, the inferencer, the Runner), it checks
its own part of the state dict first and raises
:class:`~mmpose_lite.utils.checkpoint.CheckpointMismatchError` naming the
missing keys, unexpected keys and shape mismatches (a few of each, with
counts), the likely cause and what to do. Nothing is loaded into it then.

Loading part of a model on purpose (fine-tuning from another model's
weights) is said explicitly, for a scope::

    from mmpose_lite import allow_partial_load
    with allow_partial_load():
        load_checkpoint(model, 'other_model.pth', strict=False)

Inside :func:`allow_partial_load` the loaders' own (warning) behaviour
applies. The check is also off while a module of ours runs its
``init_weights`` (so ``init_cfg=dict(type='Pretrained', ...)`` keeps
MMEngine's partial loading of pretrained weights), and the training
``load_from`` of :class:`~mmpose_lite.engine.LiteRunner` loads partially
and reports what was not loaded.

Note on ``strict=False``: torch's ``Module.load_state_dict`` passes
``strict=True`` to every module's ``_load_from_state_dict`` whatever its own
``strict`` argument (it sorts out missing and unexpected keys at the end),
and MMEngine's does the same, so a module cannot tell a strict load from a
partial one. A partial load into our modules therefore needs
:func:`allow_partial_load` around it (``model.load_state_dict(sd,
strict=False)`` on a model that contains one of our modules is refused
when ``sd`` does not fit it); called on our module itself,
``load_state_dict(sd, strict=False)`` is honoured.
"""
import contextlib
import contextvars
from typing import Iterator

from mmpose_lite.utils.checkpoint import CheckpointMismatchError, describe_mismatch

__all__ = ['StrictLoadMixin', 'allow_partial_load', 'partial_load_allowed', 'describe_mismatch',
           'CheckpointMismatchError']

_PARTIAL_LOAD = contextvars.ContextVar('mmpose_lite_partial_load', default=False)

_HINT = ('  To load the weights that fit on purpose (fine-tuning from another model), load inside '
         '`with mmpose_lite.allow_partial_load():` (training load_from with our configs already does), or use '
         'mmpose_lite.utils.load_weights(model, file, strict=False).')


@contextlib.contextmanager
def allow_partial_load(allowed: bool = True) -> Iterator[None]:
    """Within the ``with`` block (in this thread / async context only), our
    backbones and necks accept weights that do not cover them, and the
    loader's own behaviour applies (MMEngine's partial loading warns; torch's
    ``load_state_dict(strict=False)`` skips what does not fit).

    Args:
        allowed (bool): ``False`` makes the check apply again inside an
            enclosing ``allow_partial_load()``. Default: True.
    """
    token = _PARTIAL_LOAD.set(bool(allowed))
    try:
        yield
    finally:
        _PARTIAL_LOAD.reset(token)


def partial_load_allowed() -> bool:
    """Whether the current code runs inside :func:`allow_partial_load`."""
    return _PARTIAL_LOAD.get()


class StrictLoadMixin:
    """Refuse a state dict that does not cover this module, unless inside
    :func:`allow_partial_load` (see the module docstring).

    Put it first among the bases of a top-level module (a backbone or neck)::

        class MyBackbone(StrictLoadMixin, BaseBackbone): ...

    It runs where torch runs a module's load-state-dict pre-hooks (at the
    start of ``_load_from_state_dict``, before anything of the module or its
    children is copied), so a refused load leaves the weights untouched. As a
    method rather than a per-instance hook it needs no ``__init__`` code and
    survives ``copy.deepcopy`` and pickling of the module.
    """

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        if strict and not _PARTIAL_LOAD.get():
            problem = describe_mismatch(self, state_dict, prefix=prefix)
            if problem:
                raise CheckpointMismatchError(problem + '\n' + _HINT)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def load_state_dict(self, state_dict, strict: bool = True, **kwargs):
        """torch's ``load_state_dict``; called on this module itself with
        ``strict=False`` it loads what fits (the caller asked for a partial
        load). Called on a model that contains this module, a partial load
        needs :func:`allow_partial_load` (see the module docstring)."""
        with allow_partial_load(True) if not strict else contextlib.nullcontext():
            return super().load_state_dict(state_dict, strict=strict, **kwargs)

    def init_weights(self) -> None:
        """The base class's ``init_weights``, with partial loading allowed
        (``init_cfg=dict(type='Pretrained', ...)`` loads what fits, as
        MMEngine does for every module)."""
        with allow_partial_load():
            super().init_weights()
