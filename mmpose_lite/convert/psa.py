"""``psa-authors``: the authors' ``PSA_p`` / ``PSA_s`` modules (DeLightCMU/PSA)
into :class:`~mmpose_lite.models.units.PSA` with ``form='authors'``.

Every PSA module of the source is found by its ``conv_q_right.weight`` key,
whatever its prefix, so a single module's state dict converts as well as a
network holding PSA modules. In the authors' HRNet
(``semantic-segmentation/network/hrnetv2.py``) ``PSA_s`` sits in every
``BasicBlock`` as ``deattn``, after ``relu(bn1(conv1(x)))``, which is where
:class:`~mmpose_lite.models.AttentionHRNet` puts its ``unit``; their other
HRNet keys are MMPose's ``HRNet`` names already. So by default a module named
``deattn`` becomes ``unit`` and every other key is kept as it is: their
segmentation HRNet's ``backbone.*`` loads strictly into an ``AttentionHRNet``
of the same widths with ``unit=dict(type='PSA', layout='sequential',
form='authors')`` and all branches out. That network is not the same function,
though: their fusion upsamples bilinearly, MMPose's pose HRNet nearest, so
such weights initialise a backbone (e.g. ``init_cfg=dict(type='Pretrained',
prefix='backbone.', checkpoint=...)``) to be fine-tuned.

The authors' names (``right``: their ``spatial_pool``, the channel-only
branch; ``left``: their ``channel_pool``, the spatial-only branch)::

    conv_q_right        -> channel.wq.conv      conv_q_left -> spatial.wq.conv
    conv_v_right        -> channel.wv.conv      conv_v_left -> spatial.wv.conv
    conv_up             -> channel.wz.conv                              (PSA_p)
    conv_up.0 / .1 / .3 -> channel.wz.conv / channel.ln / channel.wz_out.conv  (PSA_s)

``conv_up.1`` is a ``LayerNorm([C/8, 1, 1])``; its ``(C/8, 1, 1)`` affine
becomes the ``(C/8, )`` affine of our ``LayerNorm(C/8)`` (the same
normalization over the channels of a ``(C/8, 1, 1)`` map).
"""
from typing import Dict, Mapping

import torch

from .base import ConversionError, register_converter

__all__ = ['convert_psa_authors', 'find_psa_modules']

_COMMON = {
    'conv_q_right.weight': 'channel.wq.conv.weight',
    'conv_v_right.weight': 'channel.wv.conv.weight',
    'conv_q_left.weight': 'spatial.wq.conv.weight',
    'conv_v_left.weight': 'spatial.wv.conv.weight',
}
#: their suffix -> ours, per layout (PSA_p: 'parallel', PSA_s: 'sequential')
NAME_MAPS = {
    'parallel': {**_COMMON, 'conv_up.weight': 'channel.wz.conv.weight'},
    'sequential': {
        **_COMMON,
        'conv_up.0.weight': 'channel.wz.conv.weight',
        'conv_up.0.bias': 'channel.wz.conv.bias',
        'conv_up.1.weight': 'channel.ln.weight',
        'conv_up.1.bias': 'channel.ln.bias',
        'conv_up.3.weight': 'channel.wz_out.conv.weight',
        'conv_up.3.bias': 'channel.wz_out.conv.bias',
    },
}
_ANCHOR = 'conv_q_right.weight'


def find_psa_modules(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, str]:
    """``{prefix: layout}`` of every authors' PSA module in ``state_dict``
    (prefix ``''`` for a module's own state dict): ``'sequential'`` for
    ``PSA_s`` (``conv_up`` is a bottleneck), ``'parallel'`` for ``PSA_p``."""
    found = {}
    for key in state_dict:
        if key == _ANCHOR or key.endswith('.' + _ANCHOR):
            prefix = key[:-len(_ANCHOR)]
            if prefix + 'conv_up.0.weight' in state_dict:
                found[prefix] = 'sequential'
            elif prefix + 'conv_up.weight' in state_dict:
                found[prefix] = 'parallel'
            else:
                raise ConversionError(f'PSA module {prefix or "(top level)"!r} has {_ANCHOR} but neither '
                                      f'conv_up.weight (PSA_p) nor conv_up.0.weight (PSA_s)')
    return found


def _rename_module(prefix: str, rename: Mapping[str, str]) -> str:
    if not prefix:
        return prefix
    *parents, last = prefix[:-1].split('.')
    return '.'.join([*parents, rename.get(last, last)]) + '.'


@register_converter('psa-authors',
                    help="DeLightCMU/PSA PSA_p / PSA_s (alone or inside a network) -> PSA(form='authors')")
def convert_psa_authors(state_dict: Mapping[str, torch.Tensor], rename: Mapping[str, str] = None,
                        add_prefix: str = '') -> Dict[str, torch.Tensor]:
    """Convert the authors' PSA modules in ``state_dict``; keep other keys.

    Args:
        state_dict (Mapping[str, Tensor]): A ``PSA_p`` / ``PSA_s`` state dict,
            or a network's holding such modules.
        rename (Mapping[str, str], optional): New names for the attribute
            that holds a PSA module in its parent. Default:
            ``{'deattn': 'unit'}`` (the authors' HRNet blocks -> ours).
        add_prefix (str): Put before every key, e.g. ``'backbone.'``.
            Default: ''.

    Returns:
        dict: The state dict of :class:`PSA` with ``form='authors'`` and the
        layout of each module (``'parallel'`` for ``PSA_p``, ``'sequential'``
        for ``PSA_s``), other keys unchanged.

    Raises:
        ConversionError: No PSA module found, a module lacks one of the
            authors' tensors or has one more, or its input and output
            channels differ (our unit maps C channels to C).
    """
    rename = {'deattn': 'unit'} if rename is None else dict(rename)
    modules = find_psa_modules(state_dict)
    if not modules:
        raise ConversionError(f'no PSA_p / PSA_s module found: no key ends with {_ANCHOR!r} '
                              f'(first keys: {list(state_dict)[:5]})')
    out, done = {}, set()
    for prefix, layout in modules.items():
        names = NAME_MAPS[layout]
        missing = [prefix + k for k in names if prefix + k not in state_dict]
        extra = [k for k in state_dict if k.startswith(prefix) and k[len(prefix):].startswith('conv_')
                 and k[len(prefix):] not in names]
        if missing or extra:
            raise ConversionError(f'PSA module {prefix or "(top level)"!r} ({layout}) does not have the authors\' '
                                  f'tensors: missing {missing}, unexpected {extra}')
        c_in = state_dict[prefix + 'conv_q_right.weight'].shape[1]
        c_out = state_dict[prefix + ('conv_up.weight' if layout == 'parallel' else 'conv_up.3.weight')].shape[0]
        if c_in != c_out:
            raise ConversionError(f'PSA module {prefix or "(top level)"!r} maps {c_in} channels to {c_out}; our PSA '
                                  f'unit keeps the channels (the authors\' x * mask needs that too)')
        new_prefix = add_prefix + _rename_module(prefix, rename)
        for theirs, ours in names.items():
            value = state_dict[prefix + theirs]
            if theirs.startswith('conv_up.1.'):
                value = value.reshape(-1)  # LayerNorm([C/8, 1, 1]) affine -> LayerNorm(C/8)
            out[new_prefix + ours] = value
            done.add(prefix + theirs)
    for key, value in state_dict.items():
        if key not in done:
            out[add_prefix + key] = value
    return out
