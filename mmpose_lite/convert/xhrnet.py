"""X-HRNet checkpoints of the authors' code (MMPose 0.x) into our configs.

`X-HRNet: Towards Lightweight Human Pose Estimation with Spatially
Unidimensional Self-Attention <https://doi.org/10.1109/ICME52920.2022.9859751>`_;
the authors' code is the MMPose 0.x fork https://github.com/cool-xuan/x-hrnet.

Their ``TopDown`` checkpoints hold ``backbone.*`` (``XHRNet``) and
``keypoint_head.*`` (MMPose 0.x ``TopdownHeatmapSimpleHead``). Our
``XHRNet`` presets have the same tensors (same count, same shapes but the
stripe weights) under the same names but for six rules, found by comparing
the two models' state dicts:

* ``stem.branch2.0.`` / ``.1.`` / ``.2.`` -> ``stem.expand_conv.`` /
  ``stem.depthwise_conv.`` / ``stem.linear_conv.`` (MMPose's stem names);
* ``.hconv.`` / ``.wconv.`` (the halves of the parallel SUSA) -> ``.h_unit.`` /
  ``.w_unit.``;
* ``.group_weight`` of shape ``(1, 1, 96, 1)`` (H-wise) / ``(1, 1, 1, 72)``
  (W-wise) -> ``.stripe_weight`` of shape ``(96, )`` / ``(72, )``.

The head maps as MMPose 1.x's own ``HeatmapHead`` upgrade of
``TopdownHeatmapSimpleHead`` does (its ``_load_state_dict_pre_hook``):
``keypoint_head.deconv_layers.*`` -> ``head.deconv_layers.*``;
``keypoint_head.final_layer.*`` -> ``head.final_layer.*`` when it is one
convolution (the authors' configs: ``num_deconv_layers=0``,
``final_conv_kernel=1``); with extra conv layers, ``final_layer.<i>.*`` ->
``head.conv_layers.<i>.*`` and its last layer -> ``head.final_layer.*``.
"""
import re
from typing import Dict, List, Mapping

import torch

from .base import ConversionError, register_converter

__all__ = ['convert_xhrnet_authors', 'arch_from_authors_extra', 'BACKBONE_RULES']

#: ``(pattern, replacement)`` applied in turn to each backbone key (without ``backbone.``).
BACKBONE_RULES = (
    (r'^stem\.branch2\.0\.', 'stem.expand_conv.'),
    (r'^stem\.branch2\.1\.', 'stem.depthwise_conv.'),
    (r'^stem\.branch2\.2\.', 'stem.linear_conv.'),
    (r'\.hconv\.', '.h_unit.'),
    (r'\.wconv\.', '.w_unit.'),
    (r'\.group_weight$', '.stripe_weight'),
)

#: keys every X-HRNet checkpoint of the authors has (checked before converting)
_REQUIRED = ('backbone.stem.conv1.conv.weight', 'backbone.stem.branch2.0.conv.weight')


#: the authors' ``module_type`` -> the preset whose block it is
_BLOCK_PRESET = {'sequential': 's18', 'parallel': 'p18'}


def arch_from_authors_extra(extra: Mapping) -> dict:
    """Our ``XHRNet`` ``arch`` for the ``extra`` of an authors' config
    (``backbone=dict(type='XHRNet', extra=...)``), e.g. for a variant of
    theirs that is none of our presets.

    Args:
        extra (Mapping): ``stem``, ``num_stages``, ``stages_spec``
            (``num_modules``, ``num_branches``, ``num_blocks``,
            ``module_type``, ``with_fuse``, ``num_channels``), ``with_head``.

    Returns:
        dict: An ``arch`` dict (``base`` the preset of the block type).

    Example:
        >>> extra = dict(stem=dict(stem_channels=32, out_channels=32, expand_ratio=1), num_stages=3,
        ...              stages_spec=dict(num_modules=(3, 8, 3), num_branches=(2, 3, 4), num_blocks=(2, 2, 2),
        ...                               module_type=('parallel', ) * 3, with_fuse=(True, ) * 3,
        ...                               num_channels=((40, 80), (40, 80, 160), (40, 80, 160, 320))),
        ...              with_head=True)
        >>> arch = arch_from_authors_extra(extra)
        >>> print(arch['base'], arch['num_modules'])
        p18 (3, 8, 3)
    """
    spec = extra['stages_spec']
    types = set(spec['module_type'])
    if len(types) != 1 or not types <= set(_BLOCK_PRESET):
        raise ConversionError(f"module_type {tuple(spec['module_type'])}: expected one of {sorted(_BLOCK_PRESET)} "
                              'for every stage')
    if not all(spec['with_fuse']):
        raise ConversionError(f"with_fuse {tuple(spec['with_fuse'])}: our XHRNet fuses in every stage")
    stem = {k: extra['stem'][k] for k in ('stem_channels', 'out_channels', 'expand_ratio')}
    return dict(base=_BLOCK_PRESET[types.pop()], stem=stem, num_modules=tuple(spec['num_modules']),
                num_branches=tuple(spec['num_branches']), num_blocks=tuple(spec['num_blocks']),
                num_channels=tuple(map(tuple, spec['num_channels'])), with_head=bool(extra['with_head']))


def _few(keys: List[str], n: int = 5) -> str:
    shown = ', '.join(keys[:n])
    return f'{shown} ... ({len(keys)} in all)' if len(keys) > n else shown


def _stripe_weight(key: str, value: torch.Tensor) -> torch.Tensor:
    """The authors' ``group_weight`` ``(1, 1, L, 1)`` (H-wise) or ``(1, 1, 1, L)``
    (W-wise) as our ``stripe_weight`` ``(L, )``."""
    shape = tuple(value.shape)
    if len(shape) != 4 or shape[:2] != (1, 1) or 1 not in shape[2:]:
        raise ConversionError(f'{key}: expected a SUSA group_weight of shape (1, 1, L, 1) or (1, 1, 1, L), '
                              f'got {shape}')
    return value.reshape(-1).clone()


def _head_key(key: str, final_indices: List[int]) -> str:
    """``keypoint_head.<rest>`` (TopdownHeatmapSimpleHead) -> ``head.<rest>`` (HeatmapHead)."""
    rest = key[len('keypoint_head.'):]
    if rest.startswith('deconv_layers.'):
        return 'head.' + rest
    m = re.fullmatch(r'final_layer\.(\d+)\.(\w+)', rest)
    if m:  # a Sequential: intermediate conv/BN layers, then the final convolution
        idx, name = int(m.group(1)), m.group(2)
        return f'head.final_layer.{name}' if idx == max(final_indices) else f'head.conv_layers.{idx}.{name}'
    if re.fullmatch(r'final_layer\.\w+', rest):
        return 'head.' + rest
    raise ConversionError(f'{key}: not a key of MMPose 0.x TopdownHeatmapSimpleHead (deconv_layers.*, '
                          'final_layer.*); this converter takes the authors\' X-HRNet TopDown checkpoints')


@register_converter('xhrnet-authors',
                    help="X-HRNet of the authors' code (cool-xuan/x-hrnet, MMPose 0.x TopDown: backbone + "
                    'keypoint_head) -> our XHRNet s18/p18/s30/p30 configs')
def convert_xhrnet_authors(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Convert an X-HRNet checkpoint of the authors' code to our keys.

    Args:
        state_dict (Mapping[str, Tensor]): The checkpoint's state dict
            (``backbone.*`` and, for a whole model, ``keypoint_head.*``;
            ``module.`` prefixes already removed).

    Returns:
        dict[str, Tensor]: ``backbone.*`` keys of our ``XHRNet`` (same
        preset as the authors' config: ``sxhrnet_18`` -> ``s18``, ...) and
        ``head.*`` keys of MMPose 1.x's ``HeatmapHead``.

    Raises:
        ConversionError: The checkpoint is not one of the authors' X-HRNet
            models (its missing or unmapped keys named).

    Example:
        >>> import torch
        >>> sd = {'backbone.stem.conv1.conv.weight': torch.zeros(32, 3, 3, 3),
        ...       'backbone.stem.branch2.0.conv.weight': torch.zeros(16, 16, 1, 1),
        ...       'backbone.stage0.0.layers.0.0.branch2.0.group_weight': torch.ones(1, 1, 1, 72),
        ...       'keypoint_head.final_layer.weight': torch.zeros(17, 40, 1, 1)}
        >>> for k, v in convert_xhrnet_authors(sd).items():
        ...     print(k, tuple(v.shape))
        backbone.stem.conv1.conv.weight (32, 3, 3, 3)
        backbone.stem.expand_conv.conv.weight (16, 16, 1, 1)
        backbone.stage0.0.layers.0.0.branch2.0.stripe_weight (72,)
        head.final_layer.weight (17, 40, 1, 1)
    """
    keys = list(state_dict)
    other = [k for k in keys if not k.startswith(('backbone.', 'keypoint_head.'))]
    if other:
        raise ConversionError(
            f'unmapped keys (neither backbone.* nor keypoint_head.*): {_few(other)}. The xhrnet-authors converter '
            "takes the checkpoints of the authors' MMPose 0.x TopDown X-HRNet (cool-xuan/x-hrnet).")
    missing = [k for k in _REQUIRED if k not in state_dict]
    if missing:
        raise ConversionError(f"missing keys: {_few(missing)}; not a checkpoint of the authors' X-HRNet "
                              '(cool-xuan/x-hrnet, MMPose 0.x TopDown)')
    if not any(k.endswith('.group_weight') for k in keys):
        raise ConversionError('no SUSA stripe weights (*.group_weight) in the checkpoint: not an X-HRNet. '
                              "MMPose's Lite-HRNet checkpoints load into our Lite-HRNet presets as they are.")
    final_indices = [int(m.group(1)) for k in keys for m in [re.match(r'keypoint_head\.final_layer\.(\d+)\.', k)]
                     if m]
    out = {}
    for key in keys:
        value = state_dict[key]
        if key.startswith('backbone.'):
            new = key[len('backbone.'):]
            for pattern, repl in BACKBONE_RULES:
                new = re.sub(pattern, repl, new)
            if new.endswith('.stripe_weight'):
                value = _stripe_weight(key, value)
            new = 'backbone.' + new
        else:
            new = _head_key(key, final_indices)
        if new in out:
            raise ConversionError(f'{key}: maps to {new}, which another key of the checkpoint maps to too')
        out[new] = value
    return out
