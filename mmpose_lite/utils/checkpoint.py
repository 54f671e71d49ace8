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

__all__ = ['load_local_checkpoint']


def load_local_checkpoint(filename: str, map_location=None):
    """MMEngine's ``load_from_local`` with ``weights_only=False``."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
