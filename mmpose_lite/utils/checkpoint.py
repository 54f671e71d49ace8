"""Loading MMEngine checkpoints under torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default. MMEngine 0.10.7,
which MMPose 1.3 needs, predates that: the checkpoints its Runner writes hold
its message hub (``HistoryBuffer`` objects with bound methods) and numpy
arrays, which the weights-only unpickler refuses, so ``mim test --checkpoint``,
``resume`` and ``mmpose.apis.init_model`` fail on checkpoints the same stack
just wrote. Allow-listing what they need would mean allow-listing
``getattr``, which defeats the weights-only check. Instead this module
re-registers MMEngine's loader for local files with the behaviour MMEngine was
written for (a full unpickle), and nothing else: like any MMEngine checkpoint,
load only files you trust.
"""
import os.path as osp

import torch
from mmengine.runner import CheckpointLoader

__all__ = ['load_local_checkpoint', 'load_weights', 'CheckpointMismatchError']


def load_local_checkpoint(filename: str, map_location=None):
    """MMEngine's ``load_from_local`` with ``weights_only=False``."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model built from a config."""


def load_weights(model: torch.nn.Module, filename: str, strict: bool = True) -> dict:
    """Load a checkpoint's ``state_dict`` (MMEngine or plain) into ``model``.

    Unlike a bare ``load_state_dict`` it says what to do when the file does
    not fit: a missing file, a file that is not a checkpoint, and missing or
    unexpected keys (with a few examples of each, and the likely cause) raise
    errors naming the file. Nothing is written.

    Returns:
        dict: ``missing`` and ``unexpected`` key lists (empty when strict).
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist; pass the path of a .pth file written by '
                                f'MMEngine (work_dirs/<config>/epoch_N.pth) or an MMPose model-zoo checkpoint')
    try:
        ckpt = load_local_checkpoint(filename, map_location='cpu')
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        raise CheckpointMismatchError(f'{filename} is not a readable PyTorch checkpoint ({type(e).__name__}: '
                                      f'{e}); is the file complete?') from e
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointMismatchError(f'{filename} holds no state_dict of tensors')
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if shape or (strict and (missing or unexpected)):
        def few(keys):
            return ', '.join(keys[:5]) + (f' ... ({len(keys)} in all)' if len(keys) > 5 else '')

        lines = [f'checkpoint {filename} does not fit the model ({type(model).__name__}):']
        if missing:
            lines.append(f'  missing in the checkpoint: {few(missing)}')
        if unexpected:
            lines.append(f'  not in the model: {few(unexpected)}')
        if shape:
            lines.append('  shape mismatch: ' + few([f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
                                                     for k in shape]))
        lines.append('  Was it trained with another config (backbone preset, head channels, number of '
                     'keypoints)? Use the config it was trained with.')
        raise CheckpointMismatchError('\n'.join(lines))
    model.load_state_dict(state, strict=False)
    return dict(missing=missing, unexpected=unexpected)
