"""Loading weights into a model, safely and with a clear error when they do
not fit.

Checkpoints are untrusted input: :func:`load_weights` unpickles them with
``torch.load(weights_only=True)``, which only rebuilds tensors and plain
Python data, never arbitrary objects (a crafted pickle can run code while it
is loaded). Checkpoints written by our configs load that way (see
:class:`~mmpose_lite.engine.SafeCheckpointHook`); for an older file one
trusts, ``trusted=True`` is the explicit opt-in, or
``tools/upgrade_checkpoint.py --trust`` writes a copy that needs no opt-in.

:func:`describe_mismatch` is the one description of "these weights do not
fit this model" (missing and unexpected keys, shape mismatches, the likely
cause) shared by :func:`load_weights`, the strict-load check of our
backbones and necks (:mod:`mmpose_lite.models.strict_load`) and the runner.

Importing this module changes nothing global: MMEngine's checkpoint loaders
and torch's defaults stay as they are.
"""
import os.path as osp
import pickle
from typing import Any, List, Mapping, NamedTuple, Optional, Tuple

import torch
from torch import nn

__all__ = ['load_weights', 'describe_mismatch', 'find_mismatch', 'Mismatch', 'CheckpointMismatchError']


class CheckpointMismatchError(ValueError, RuntimeError):
    """A checkpoint's weights do not fit the model built from a config.

    Also a ``RuntimeError``: what torch's strict ``load_state_dict`` raises,
    so code that catches that keeps working."""


class Mismatch(NamedTuple):
    """How a state dict differs from a model's (keys with their prefix)."""
    missing: List[str]
    unexpected: List[str]
    #: ``(key, shape in the state dict, shape in the model)``
    shapes: List[Tuple[str, tuple, tuple]]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.shapes)


def _is_optional_key(key: str) -> bool:
    # BatchNorm counters: torch itself fills them in for checkpoints written
    # before they existed, and they are not weights.
    return key.rsplit('.', 1)[-1] == 'num_batches_tracked'


def find_mismatch(model: nn.Module, state_dict: Mapping[str, Any], prefix: str = '') -> Mismatch:
    """Compare ``state_dict`` with ``model``'s own.

    Args:
        model (nn.Module): The model (or submodule) the weights are for.
        state_dict (Mapping): The weights, keyed as ``prefix + name``. Keys
            not starting with ``prefix`` are ignored (they belong to other
            modules of a bigger model).
        prefix (str): ``model``'s key prefix in ``state_dict`` (``''`` when
            ``model`` is the whole model).

    Returns:
        Mismatch: Missing keys (``num_batches_tracked`` counters excepted),
        unexpected keys and shape mismatches, each sorted. Empty (falsy)
        when the state dict covers the model exactly.
    """
    own = model.state_dict(prefix=prefix, keep_vars=True)
    given = {k: v for k, v in state_dict.items() if isinstance(k, str) and k.startswith(prefix)}
    missing = sorted(k for k in own.keys() - given.keys() if not _is_optional_key(k))
    unexpected = sorted(given.keys() - own.keys())
    shapes = []
    for key in sorted(own.keys() & given.keys()):
        mine, theirs = getattr(own[key], 'shape', None), getattr(given[key], 'shape', None)
        if mine is not None and tuple(mine) != (None if theirs is None else tuple(theirs)):
            shapes.append((key, None if theirs is None else tuple(theirs), tuple(mine)))
    return Mismatch(missing, unexpected, shapes)


def _few(items: List[str], n: int = 5) -> str:
    shown = ', '.join(items[:n])
    return f'{shown} ... ({len(items)} in all)' if len(items) > n else shown


def describe_mismatch(model: nn.Module, state_dict: Mapping[str, Any], source: Optional[str] = None,
                      prefix: str = '') -> str:
    """Say how ``state_dict`` does not fit ``model``, or ``''`` if it fits.

    Args:
        model (nn.Module): The model (or submodule) the weights are for.
        state_dict (Mapping): The weights (``module.`` prefixes already
            stripped), keyed as ``prefix + name``.
        source (str, optional): The checkpoint file, named in the message.
        prefix (str): ``model``'s key prefix in ``state_dict``.

    Returns:
        str: A few lines naming a few missing keys, unexpected keys and
        shape mismatches with their counts, the likely cause and what to
        do; ``''`` when ``state_dict`` covers ``model`` exactly.
    """
    found = find_mismatch(model, state_dict, prefix)
    if not found:
        return ''
    missing, unexpected, shapes = found
    what = type(model).__name__ + (f" (keys '{prefix}*')" if prefix else '')
    lines = [f'the checkpoint {source} does not fit {what}:' if source else
             f'the weights being loaded do not fit {what}:']
    if missing:
        lines.append(f'  missing in the checkpoint: {_few(missing)}')
    if unexpected:
        lines.append(f'  not in the model: {_few(unexpected)}')
    if shapes:
        lines.append('  shape mismatch (checkpoint vs model): ' +
                     _few([f'{k} {theirs} vs {mine}' for k, theirs, mine in shapes]))
    required = [k for k in model.state_dict(prefix=prefix, keep_vars=True) if not _is_optional_key(k)]
    if missing and len(missing) == len(required):
        cause = ('  None of the model\'s weights are in it: it is a checkpoint of another model, or its keys '
                 'carry another prefix (a backbone-only checkpoint goes into init_cfg=dict(type=\'Pretrained\', '
                 'checkpoint=..., prefix=...) instead).')
    elif shapes and not missing and not unexpected:
        cause = ('  Same layers, other sizes: was it trained with another width preset, number of keypoints '
                 'or head channels? Use the config it was trained with.')
    else:
        cause = ('  Was it trained with another config (backbone preset or type, head channels, number of '
                 'keypoints)? Use the config it was trained with.')
    lines.append(cause)
    return '\n'.join(lines)


def load_weights(model: nn.Module, filename: str, strict: bool = True, trusted: bool = False) -> dict:
    """Load a checkpoint's ``state_dict`` (MMEngine, MMPose model zoo or a
    plain state dict) into ``model``.

    The file is read with ``torch.load(weights_only=True)``: tensors and
    plain Python data only. A file holding other pickled objects (which
    could run code while they are unpickled) is refused with
    :class:`~mmpose_lite.engine.safe_checkpoint.UnsafeCheckpointError`,
    unless ``trusted=True``.

    Unlike a bare ``load_state_dict`` it says what to do when the file does
    not fit: a missing file, a file that is not a checkpoint, missing or
    unexpected keys and shape mismatches (a few examples of each, with the
    likely cause) raise errors naming the file. Nothing is loaded then.

    Args:
        model (nn.Module): The model to load into.
        filename (str): The checkpoint file.
        strict (bool): Refuse a checkpoint with missing or unexpected keys.
            With False those are skipped (and returned); shape mismatches
            are refused either way. Default: True.
        trusted (bool): Unpickle the file without the weights-only
            restriction (``torch.load(weights_only=False)``). Only for files
            from a source you trust: a crafted file can run any code while it
            is loaded. Default: False.

    Returns:
        dict: ``missing`` and ``unexpected`` key lists (empty when strict).

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnsafeCheckpointError: The file holds objects other than tensors and
            plain data (and ``trusted`` is False).
        CheckpointMismatchError: The file is not a checkpoint or does not fit.
    """
    from mmpose_lite.engine.safe_checkpoint import UnsafeCheckpointError, explain_unsafe
    from mmpose_lite.models.strict_load import allow_partial_load

    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist; pass the path of a .pth file written by '
                                f'MMEngine (work_dirs/<config>/epoch_N.pth) or an MMPose model-zoo checkpoint')
    try:
        ckpt = torch.load(filename, map_location='cpu', weights_only=not trusted)
    except pickle.UnpicklingError as e:
        err = explain_unsafe(filename, e)
        if isinstance(err, UnsafeCheckpointError):
            raise err from e
        raise CheckpointMismatchError(str(err)) from e
    except Exception as e:  # noqa: BLE001 - any other failure means "not a readable checkpoint"
        raise CheckpointMismatchError(f'{filename} is not a readable PyTorch checkpoint ({type(e).__name__}: '
                                      f'{e}); is the file complete?') from e
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointMismatchError(f'{filename} holds no state_dict of tensors (a dict of name -> tensor, '
                                      f'alone or under the key "state_dict")')
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    missing, unexpected, shapes = find_mismatch(model, state)
    if shapes or (strict and (missing or unexpected)):
        raise CheckpointMismatchError(describe_mismatch(model, state, filename))
    with allow_partial_load():  # the check above is the one that counts here
        model.load_state_dict(state, strict=False)
    return dict(missing=missing, unexpected=unexpected)
