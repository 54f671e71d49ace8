"""``hourglass-authors``: checkpoints of the PyTorch port of Newell et al.'s
Stacked Hourglass (princeton-vl/pytorch_stacked_hourglass, ``PoseNet``) into
an MMPose 1.x model of ours: :class:`~mmpose_lite.models.StackedHourglass`
backbone and MMPose's ``CPMHead`` with identity stages (which has no
parameters: the prediction convolutions are the backbone's).

Their ``checkpoint.pt`` saves ``Trainer(DataParallel(PoseNet)).state_dict()``,
so the keys start with ``model.module.``; that prefix is dropped. Then::

    pre.{0,1,3,4}                 -> stem.{0,1,3,4}           (pre.2 is the max-pool)
    hgs.i.0.<up1|low1|low3>       -> hourglasses.i.<up1|low1|low3>.0
    hgs.i.0.(low2.)*low2          -> hourglasses.i.(low2.)*low2.0   (the innermost residual)
    features.i.{0,1}              -> features.i.{0,1}
    outs.i.conv                   -> predictions.i
    merge_features.i.conv.conv    -> feature_feedback.i
    merge_preds.i.conv.conv       -> heatmap_feedback.i

and inside every ``Residual`` -> :class:`PreActBottleneck`::

    bn1, conv1.conv, bn2, conv2.conv, bn3, conv3.conv -> conv1.0, conv1.2, conv2.0, conv2.2, conv3.0, conv3.2
    skip_layer.conv                                   -> skip

Two kinds of their tensors have no counterpart, both without effect on the
outputs:

* ``skip_layer`` of a ``Residual`` whose input and output channels are equal:
  they build it but never call it (``need_skip`` is False); ours is an
  identity. Dropped.
* the bias of a convolution followed by its own BatchNorm (their ``Conv`` with
  ``bn=True``: ``pre.0`` and ``features.i.1``; 64 + 256 per stack, 2,112
  values for 8 stacks of 256 features). MMCV's ``ConvModule`` has no bias
  before a norm. It is folded into the BN's shift: ``running_mean -= bias``,
  exact in eval mode; in training mode the batch mean cancels the bias anyway.

Their ``Residual`` convolutions before ``bn2`` and ``bn3`` keep their biases
here, as ours do (``Residual.lua``). Their ``PoseNet`` always has hourglass
depth 4 and one residual per step (``num_modules=1``); ``increase`` must be 0
(ours keeps the width through the hourglass). Their network reads NHWC RGB
images in [0, 1] and returns ``(N, stacks, joints, H/4, W/4)``; ours reads
NCHW (MMPose's data preprocessor with ``mean=[0, 0, 0]``, ``std=[255, 255,
255]``, ``bgr_to_rgb=True`` gives their input) and returns the tuple of every
stack's heatmaps.
"""
import re
from typing import Dict, Mapping, Tuple

import torch
from mmengine.logging import print_log

from .base import ConversionError, register_converter

__all__ = ['convert_hourglass_authors']

_WRAPPERS = ('model.', 'module.')
_TOP_LEVEL = [
    (re.compile(r'^pre\.'), 'stem.'),
    (re.compile(r'^hgs\.(\d+)\.0\.'), r'hourglasses.\1.'),
    (re.compile(r'^outs\.(\d+)\.conv\.'), r'predictions.\1.'),
    (re.compile(r'^merge_features\.(\d+)\.conv\.conv\.'), r'feature_feedback.\1.'),
    (re.compile(r'^merge_preds\.(\d+)\.conv\.conv\.'), r'heatmap_feedback.\1.'),
    (re.compile(r'^features\.'), 'features.'),
]
#: a Residual's own tensors: <residual prefix><part>.<tensor>
_RESIDUAL = re.compile(r'^(.*?)(bn[123]|conv[123]\.conv|skip_layer\.conv)\.(\w+)$')
_RESIDUAL_PARTS = {'bn1': 'conv1.0', 'conv1.conv': 'conv1.2', 'bn2': 'conv2.0', 'conv2.conv': 'conv2.2',
                   'bn3': 'conv3.0', 'conv3.conv': 'conv3.2', 'skip_layer.conv': 'skip'}
_HOURGLASS_STEPS = ('up1', 'low1', 'low2', 'low3')


def _strip_wrappers(key: str) -> str:
    while key.startswith(_WRAPPERS):
        key = key.split('.', 1)[1]
    return key


def _rename(key: str) -> str:
    for pattern, repl in _TOP_LEVEL:
        new, n = pattern.subn(repl, key)
        if n:
            key = new
            break
    else:
        raise ConversionError(f'unexpected key {key!r}: not a tensor of their PoseNet (pre, hgs, features, outs, '
                              f'merge_features, merge_preds)')
    m = _RESIDUAL.match(key)
    if m is None:
        return key
    prefix, part, tensor = m.groups()
    if prefix.startswith('hourglasses.') and prefix.rstrip('.').rsplit('.', 1)[-1] in _HOURGLASS_STEPS:
        prefix += '0.'  # each step is a Sequential of num_modules (= 1) residuals here
    return f'{prefix}{_RESIDUAL_PARTS[part]}.{tensor}'


def _unused_skips(sd: Mapping[str, torch.Tensor]) -> Tuple[str, ...]:
    """Prefixes of the Residuals whose skip_layer they never call (same channels in and out)."""
    unused = []
    for key in sd:
        if key.endswith('skip_layer.conv.weight'):
            prefix = key[:-len('skip_layer.conv.weight')]
            c_in, c_out = sd[prefix + 'bn1.weight'].shape[0], sd[prefix + 'conv3.conv.weight'].shape[0]
            if c_in == c_out:
                unused.append(prefix)
    return tuple(unused)


@register_converter('hourglass-authors',
                    help='princeton-vl/pytorch_stacked_hourglass PoseNet -> StackedHourglass + CPMHead')
def convert_hourglass_authors(state_dict: Mapping[str, torch.Tensor], prefix: str = 'backbone.',
                              report: dict = None) -> Dict[str, torch.Tensor]:
    """Convert their ``PoseNet`` state dict.

    Args:
        state_dict (Mapping[str, Tensor]): Their ``checkpoint.pt``'s
            ``state_dict`` (``model.module.`` prefixes are dropped).
        prefix (str): Put before every key: ``'backbone.'`` (default) for
            the whole MMPose model, ``''`` for the backbone alone.
        report (dict, optional): When given, filled with ``folded_biases``
            (the names of the biases folded into BN), ``folded_values``
            (their number of values) and ``dropped`` (the unused
            ``skip_layer`` tensors).

    Returns:
        dict: The state dict of our model (``StackedHourglass`` with their
        ``nstack``, ``num_feats=inp_dim``, depth 4, ``num_modules=1``,
        ``stem_channels=(64, 128)``, ``num_joints=oup_dim``).

    Raises:
        ConversionError: A key that is not theirs, or ``increase != 0``.
    """
    sd = {_strip_wrappers(k): v for k, v in state_dict.items()}
    if not any(k.startswith('hgs.') for k in sd):
        raise ConversionError(f'not a pytorch_stacked_hourglass PoseNet state dict: no hgs.* keys '
                              f'(first keys: {list(state_dict)[:5]})')
    for key in sd:
        if re.match(r'^hgs\.\d+\.0\.low1\.conv3\.conv\.weight$', key):
            up = key.replace('.low1.', '.up1.')
            if sd[key].shape[0] != sd[up].shape[0]:
                raise ConversionError(f'{key}: their hourglass widens to {sd[key].shape[0]} channels '
                                      f'(increase={sd[key].shape[0] - sd[up].shape[0]}); our HourglassModule '
                                      f'keeps {sd[up].shape[0]} (only increase=0 converts)')
    sd = dict(sd)
    dropped = []
    for p in _unused_skips(sd):
        dropped += [k for k in list(sd) if k.startswith(p + 'skip_layer.')]
    for k in dropped:
        del sd[k]
    folded, folded_values = [], 0
    for key in [k for k in sd if k.endswith('conv.bias')]:
        mean_key = key[:-len('conv.bias')] + 'bn.running_mean'
        if mean_key in sd:  # their Conv(bn=True): conv bias, then BN
            sd[mean_key] = sd[mean_key] - sd.pop(key)
            folded.append(key)
            folded_values += sd[mean_key].numel()
    if report is not None:
        report.update(folded_biases=folded, folded_values=folded_values, dropped=dropped)
    print_log(f'hourglass-authors: folded {len(folded)} conv biases ({folded_values} values) into the running mean '
              f'of the BatchNorm after them; dropped {len(dropped)} tensors of never-called skip_layers',
              logger='current')
    return {prefix + _rename(k): v for k, v in sd.items()}
