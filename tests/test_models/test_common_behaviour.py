"""What every backbone, neck and attention unit of the package shares, tested
once over all of them:

* a training step is finite and its gradient reaches every parameter (every
  preset of the preset backbones, the MMPose-composed backbones, the necks,
  every unit);
* ``with_cp`` gives the same outputs and gradients, and every block that
  takes ``with_cp`` runs through ``torch.utils.checkpoint``;
* ``norm_eval`` keeps every BatchNorm in eval mode, and ``train()`` returns
  the model;
* ``frozen_stages`` freezes the parts each backbone documents (no gradient,
  eval mode, the units inside them included) and nothing else;
* every single-tensor unit takes a loss step in every host (HR skeleton
  block, ResNet/HRNet blocks, attention neck), and every attention unit
  computes ``x * attention(x)`` with the attention of its documented shape
  and range.

The cases come from the registries: :func:`test_every_registered_module_has_cases`
fails when a backbone, neck or unit is registered without cases here.
Backbone-specific behaviour stays in each family's own test file.
"""
from typing import Callable, Dict, NamedTuple, Sequence, Tuple

import pytest
import torch
import torch.nn.functional as F
from mmpose.registry import MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmpose_lite.models import (
    AttentionHRNet,
    AttentionNeck,
    AttentionResNet,
    LightHRNet,
    MultiResolutionFuseNeck,
    SlidePoseNet,
    StackedHourglass,
    XHRNet,
)
from mmpose_lite.models.units import AttentionUnit
from mmpose_lite.registry import UNITS, build_unit
from ..conftest import TINY_RESNET, assert_same_outputs_and_grads, randomize_, tiny_hrnet_extra

ALL_OUT = (0, 1, 2, 3)
PSA_SEQUENTIAL = dict(type='PSA', layout='sequential')
SMALL_HOURGLASS = dict(base='tiny', num_feats=16, stem_channels=(8, 16), depth=2)  # size divisor 16
SMALL_SLIDE = dict(base='light', depths=(1, 1, 1, 1))


class Family(NamedTuple):
    """How the shared tests build and freeze one backbone class.

    Attributes:
        build: ``build(arch, **kwargs)``: the model for one of ``variants``
            (or for ``small``) with extra keyword arguments (``with_cp``,
            ``norm_eval``, ``frozen_stages``).
        small: The arch of the small model of the ``norm_eval`` and
            ``frozen_stages`` tests.
        size: Input (H, W).
        variants: Archs whose training step is checked (id -> arch).
        cp_variants: Archs built with and without ``with_cp`` (ids of
            ``variants`` or of ``small``: ``'small'``).
        frozen: ``frozen(model, k)``: the modules ``frozen_stages=k`` freezes,
            as the class documents it.
        frozen_stages: The values of ``frozen_stages`` tested.
        cp_std: Standard deviation of the random weights of the ``with_cp``
            comparison (transformer blocks amplify large ones).
        cp_relative: Compare with tolerances scaled to the values (deep
            models where recomputation reorders float sums).
    """
    build: Callable[..., nn.Module]
    small: object
    size: Tuple[int, int]
    variants: Dict[str, object]
    cp_variants: Sequence[str]
    frozen: Callable[[nn.Module, int], list]
    frozen_stages: Sequence[int]
    cp_std: float = 0.3
    cp_relative: bool = False


# ``frozen(model, k)`` for k >= 0: the parts each class documents (written out here, not taken from the class)


def _hr_frozen(model, k):
    """Stem, then transition i and stage i for i < k."""
    return [model.stem] + [getattr(model, f'{p}{i}') for i in range(k) for p in ('transition', 'stage')]


def _slide_frozen(model, k):
    """Stem, then stage i for i < k."""
    return [model.stem] + [getattr(model, f'stage{i}') for i in range(k)]


def _hourglass_frozen(model, k):
    """Stem, then stack i (hourglass, features, prediction) with the feedback convolutions into stack i + 1."""
    parts = [model.stem]
    for i in range(k):
        parts += [model.hourglasses[i], model.features[i], model.predictions[i]]
        if i < len(model.hourglasses) - 1:
            parts += [model.feature_feedback[i], model.heatmap_feedback[i]]
    return parts


def _resnet_frozen(model, k):
    """MMPose's ResNet: the stem (conv1, norm1), then layer 1..k."""
    return [model.conv1, model.norm1] + [getattr(model, f'layer{i}') for i in range(1, k + 1)]


def _hrnet_frozen(model, k):
    """MMPose's HRNet: the stem (two conv-norm pairs), then for i = 1..k
    layer1 (i = 1) or stage i, with transition i (i < 4)."""
    parts = [model.conv1, model.norm1, model.conv2, model.norm2]
    for i in range(1, k + 1):
        parts.append(model.layer1 if i == 1 else getattr(model, f'stage{i}'))
        if i < 4:
            parts.append(getattr(model, f'transition{i}'))
    return parts


def _light_hrnet(arch, **kwargs):
    return LightHRNet(arch=arch, out_indices=ALL_OUT, **kwargs)


def _xhrnet(arch, **kwargs):
    return XHRNet(arch=arch, out_indices=ALL_OUT, **kwargs)


def _slide(arch, **kwargs):
    return SlidePoseNet(arch=arch, **kwargs)


def _hourglass(arch, **kwargs):
    return StackedHourglass(arch=arch, num_joints=3, **kwargs)


def _attention_resnet(depth, **kwargs):
    return AttentionResNet(depth, unit=PSA_SEQUENTIAL, **TINY_RESNET, **kwargs)


def _attention_hrnet(arch, **kwargs):
    return AttentionHRNet(tiny_hrnet_extra(), unit=dict(type='PSA'), unit_blocks=('BASIC', 'BOTTLENECK'), **kwargs)


#: One entry per registered backbone class. The preset backbones' variants are
#: their presets (the X-shuffle presets run as XHRNet, whose presets they are).
FAMILIES = {
    'LightHRNet': Family(_light_hrnet, dict(base='18', num_modules=(1, 1, 1)), (64, 64),
                         variants={a: a for a in LightHRNet.arch_zoo if a not in XHRNet.arch_zoo},
                         cp_variants=('18', 'naive-18'), frozen=_hr_frozen, frozen_stages=(0, 1, 3)),
    'XHRNet': Family(_xhrnet, dict(base='p18', num_modules=(1, 1, 1)), (64, 64),
                     variants={a: a for a in XHRNet.arch_zoo}, cp_variants=('p18', ), frozen=_hr_frozen,
                     frozen_stages=(0, 2)),
    'StackedHourglass': Family(_hourglass, SMALL_HOURGLASS, (32, 32),
                               variants={'3-stacks': dict(SMALL_HOURGLASS, num_stacks=3, num_modules=2)},
                               cp_variants=('small', ), frozen=_hourglass_frozen, frozen_stages=(0, 1, 2)),
    'SlidePoseNet': Family(_slide, SMALL_SLIDE, (64, 64), variants={a: a for a in SlidePoseNet.arch_zoo},
                           cp_variants=('small', ), frozen=_slide_frozen, frozen_stages=(0, 2, 4), cp_std=0.1),
    'AttentionResNet': Family(_attention_resnet, 50, (32, 32), variants={'18': 18, '50': 50}, cp_variants=('small', ),
                              frozen=_resnet_frozen, frozen_stages=(0, 1, 2), cp_std=0.2, cp_relative=True),
    'AttentionHRNet': Family(_attention_hrnet, None, (64, 64), variants={'psa': None}, cp_variants=('small', ),
                             frozen=_hrnet_frozen, frozen_stages=(0, 1, 2, 4), cp_std=0.2, cp_relative=True),
}

FEATS = ((8, 16, 12), (16, 8, 6), (32, 4, 3))  # (channels, h, w) of a three-branch feature list
NECKS = {
    'AttentionNeck': lambda: AttentionNeck([c for c, _, _ in FEATS]),
    'MultiResolutionFuseNeck': lambda: MultiResolutionFuseNeck([c for c, _, _ in FEATS], out_channels=16),
}


def _unit_cfgs():
    """Every registered unit as ``id -> config``: PSA in both layouts, SUSA in both directions."""
    cfgs = {}
    for name in sorted(UNITS.module_dict):
        extras = {'PSA': [dict(layout='parallel'), dict(layout='sequential')],
                  'SUSA': [dict(dim='h'), dict(dim='w')]}.get(name, [{}])
        for extra in extras:
            cfgs['-'.join([name, *extra.values()])] = dict(type=name, **extra)
    return cfgs


UNIT_CFGS = _unit_cfgs()
#: Units with the ``unit(x) -> x'`` contract (cross-resolution units take lists and are hosted by the neck only).
#: ``PointwiseConv`` is not an attention but honours the contract, so the hosts take it as well.
SINGLE = {k: c for k, c in UNIT_CFGS.items() if not UNITS.get(c['type']).cross_resolution}


def _registered(package):
    return {name for name, cls in MODELS.module_dict.items() if cls.__module__.startswith(package)}


def test_every_registered_module_has_cases():
    assert _registered('mmpose_lite.models.backbones') == set(FAMILIES)
    assert _registered('mmpose_lite.models.necks') == set(NECKS)
    assert {c['type'] for c in UNIT_CFGS.values()} == set(UNITS.module_dict)
    assert {'PSA-parallel', 'PSA-sequential', 'SUSA-h', 'SUSA-w', 'CrossResolutionWeighting'} <= set(UNIT_CFGS)
    assert 'CrossResolutionWeighting' not in SINGLE and 'PointwiseConv' in SINGLE
    for name, unit in UNITS.module_dict.items():  # every unit can be named in a config as well
        assert MODELS.get(name) is unit, name


def _image(family, rng, n=2):
    return torch.randn(n, 3, *family.size, generator=rng)


def _feats(rng, n=2):
    return [torch.randn(n, c, h, w, generator=rng) for c, h, w in FEATS]


def _outputs(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _assert_a_step_reaches_every_parameter(model, x, rng):
    """Train-mode forward and backward with random output weights: finite
    outputs, and a finite, non-zero gradient for every parameter."""
    model.train()
    outs = _outputs(model(x))
    assert all(torch.isfinite(o).all() for o in outs)
    sum((o * torch.randn(o.shape, generator=rng)).sum() for o in outs).backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f'no gradient reaches {dead[:5]} ({len(dead)} in all)'
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad, f'non-finite gradient in {bad[:5]}'


# ------------------------------------------------------------------------------------------ training step

STEP_CASES = [(f, v) for f in sorted(FAMILIES) for v in FAMILIES[f].variants]


@pytest.mark.parametrize('family, variant', STEP_CASES, ids=[f'{f}-{v}' for f, v in STEP_CASES])
def test_backbone_step_is_finite_and_reaches_every_parameter(family, variant, rng):
    fam = FAMILIES[family]
    model = fam.build(fam.variants[variant])
    _assert_a_step_reaches_every_parameter(model, _image(fam, rng), rng)


@pytest.mark.parametrize('neck', sorted(NECKS))
def test_neck_step_is_finite_and_reaches_every_parameter(neck, rng):
    _assert_a_step_reaches_every_parameter(NECKS[neck](), tuple(_feats(rng)), rng)


@pytest.mark.parametrize('unit', sorted(UNIT_CFGS))
def test_unit_step_is_finite_and_reaches_every_parameter(unit, rng):
    cfg = UNIT_CFGS[unit]
    if unit in SINGLE:
        module, x = build_unit(cfg, 16), torch.randn(2, 16, 12, 10, generator=rng)
    else:
        module, x = build_unit(cfg, [c for c, _, _ in FEATS]), _feats(rng)
    _assert_a_step_reaches_every_parameter(module, x, rng)


# ------------------------------------------------------------------------------------------ with_cp


def _checkpointing_blocks(model):
    """Names of the modules that take ``with_cp`` and hold no module that takes it (the checkpointed blocks)."""
    takes = {name for name, m in model.named_modules() if hasattr(m, 'with_cp')}
    return sorted(n for n in takes if not any(o != n and o.startswith(f'{n}.' if n else '') for o in takes))


CP_CASES = [(f, v) for f in sorted(FAMILIES) for v in FAMILIES[f].cp_variants]


@pytest.mark.parametrize('family, variant', CP_CASES, ids=[f'{f}-{v}' for f, v in CP_CASES])
def test_with_cp_gives_equal_outputs_and_gradients(family, variant, checkpoint_calls, rng):
    fam = FAMILIES[family]
    arch = fam.small if variant == 'small' else fam.variants[variant]
    plain = randomize_(fam.build(arch), std=fam.cp_std)
    ckpt = fam.build(arch, with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    blocks = _checkpointing_blocks(plain)
    assert blocks and not any(plain.get_submodule(n).with_cp for n in blocks)
    off = [n for n in blocks if not ckpt.get_submodule(n).with_cp]
    assert not off, f'with_cp=True does not reach {off[:5]}'
    assert_same_outputs_and_grads(plain, ckpt, _image(fam, rng), relative=fam.cp_relative)
    assert len(checkpoint_calls) == len(blocks), 'with_cp=True must checkpoint every block once per forward'


# ------------------------------------------------------------------------------------------ norm_eval


def _running_means(modules):
    return [m.running_mean.clone() for m in modules if isinstance(m, _BatchNorm)]


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_norm_eval_and_train_returns_self(family, rng):
    fam = FAMILIES[family]
    x = _image(fam, rng)
    frozen = fam.build(fam.small, norm_eval=True)
    assert frozen.train() is frozen and frozen.eval() is frozen and frozen.train() is frozen
    bns = [m for m in frozen.modules() if isinstance(m, _BatchNorm)]
    assert bns and not any(m.training for m in bns)
    before = _running_means(frozen.modules())
    frozen(x)
    assert all(torch.equal(a, b) for a, b in zip(_running_means(frozen.modules()), before))

    trained = fam.build(fam.small).train()
    assert all(m.training for m in trained.modules() if isinstance(m, _BatchNorm))
    before = _running_means(trained.modules())
    trained(x)
    assert not all(torch.equal(a, b) for a, b in zip(_running_means(trained.modules()), before))


# ------------------------------------------------------------------------------------------ frozen_stages

#: Modules whose computation depends on train/eval mode (the ones a frozen stage must keep in eval mode).
MODE_DEPENDENT = (_BatchNorm, nn.Dropout)
FROZEN_CASES = [(f, k) for f in sorted(FAMILIES) for k in FAMILIES[f].frozen_stages]


@pytest.mark.parametrize('family, frozen', FROZEN_CASES, ids=[f'{f}-{k}' for f, k in FROZEN_CASES])
def test_frozen_stages_freeze_the_documented_parts_only(family, frozen, rng):
    fam = FAMILIES[family]
    model = fam.build(fam.small, frozen_stages=frozen)
    assert model.train() is model
    parts = fam.frozen(model, frozen)
    frozen_ids = {id(p) for m in parts for p in m.parameters()}
    inside = {id(m) for part in parts for m in part.modules()}
    norms = [m for m in model.modules() if id(m) in inside and isinstance(m, _BatchNorm)]
    assert frozen_ids and norms
    assert not any(m.training for m in model.modules() if id(m) in inside and isinstance(m, MODE_DEPENDENT)), \
        'a frozen stage has a norm layer in train mode'
    outside = [n for n, m in model.named_modules() if id(m) not in inside and not list(m.children())]
    assert all(model.get_submodule(n).training for n in outside), 'a module outside the frozen stages is in eval mode'
    before = _running_means(norms)
    outs = [o for o in _outputs(model(_image(fam, rng))) if o.requires_grad]
    assert all(torch.equal(a, b) for a, b in zip(_running_means(norms), before)), 'a training step changed a frozen BN'
    if outs:
        sum(o.sum() for o in outs).backward()
    for name, p in model.named_parameters():
        assert p.requires_grad == (id(p) not in frozen_ids), name
        if id(p) in frozen_ids:
            assert p.grad is None, name
    units = [id(m) for m in model.modules() if isinstance(m, tuple(UNITS.module_dict.values()))]
    if frozen > 0 and units:  # the units inside frozen stages are frozen with them
        assert inside & set(units)


# ------------------------------------------------------------------------------------------ units


def _host(name, unit, rng):
    """A small host of ``unit`` as (module, input)."""
    image = lambda size: torch.randn(2, 3, size, size, generator=rng)  # noqa: E731
    if name == 'skeleton':
        block = dict(type='ShuffleBlock', pre=unit, post=unit)
        return LightHRNet(arch=dict(base='s18', num_modules=(1, 1, 1), block=block)), image(64)
    if name == 'resnet-bottleneck':
        return AttentionResNet(50, unit=unit, **TINY_RESNET), image(32)
    if name == 'resnet-basic':
        return AttentionResNet(18, unit=unit, **TINY_RESNET), image(32)
    if name == 'hrnet':  # 64x64: the lowest branch is 2x2, not a degenerate 1x1
        return AttentionHRNet(tiny_hrnet_extra(), unit=unit, unit_blocks=('BASIC', 'BOTTLENECK')), image(64)
    assert name == 'neck'
    return AttentionNeck([16, 32], unit=unit), (torch.randn(2, 16, 8, 6, generator=rng),
                                                torch.randn(2, 32, 4, 3, generator=rng))


@pytest.mark.parametrize('host', ['skeleton', 'resnet-bottleneck', 'resnet-basic', 'hrnet', 'neck'])
@pytest.mark.parametrize('unit', sorted(SINGLE))
def test_every_unit_in_every_host_takes_a_loss_step(unit, host, rng):
    cfg = SINGLE[unit]
    model, x = _host(host, cfg, rng)
    units = [m for m in model.modules() if isinstance(m, UNITS.get(cfg['type']))]
    assert units, f'{host} built no {cfg["type"]}'
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    outs = model(x)
    loss = sum(F.mse_loss(o, torch.zeros_like(o)) for o in outs)
    assert torch.isfinite(loss)
    loss.backward()
    unit_params = [p for u in units for p in u.parameters()]
    if unit_params:  # every unit instance learns (single parameters may sit behind a dead ReLU)
        assert all(p.grad is not None for p in unit_params)
        assert all(sum(p.grad.abs().sum() for p in u.parameters()) > 0 for u in units if list(u.parameters()))
    before = [p.detach().clone() for p in unit_params]
    opt.step()
    assert not unit_params or any(not torch.equal(b, p) for b, p in zip(before, unit_params))


#: Documented attention shape of each attention unit (n, c, h, w -> shape), and the open range when not (0, 1).
SHAPES = {
    'PSAChannel': lambda n, c, h, w: (n, c, 1, 1),
    'PSASpatial': lambda n, c, h, w: (n, 1, h, w),
    'PSA-parallel': lambda n, c, h, w: (n, c, h, w),
    'PSA-sequential': lambda n, c, h, w: (n, c, h, w),
    'SpatialWeighting': lambda n, c, h, w: (n, c, 1, 1),
    'SUSA-h': lambda n, c, h, w: (n, c, h, 1),
    'SUSA-w': lambda n, c, h, w: (n, c, 1, w),
}
UPPER = {'PSA-parallel': 2.0}  # x * (A_ch + A_sp): a sum of two (0, 1) weights
ATTENTION = sorted(k for k, c in SINGLE.items() if issubclass(UNITS.get(c['type']), AttentionUnit))


def test_every_attention_unit_has_a_documented_shape():
    assert set(ATTENTION) == set(SHAPES)


@pytest.mark.parametrize('unit', ATTENTION)
@pytest.mark.parametrize('size', [(12, 10), (5, 7), (128, 96)])
def test_unit_is_x_times_attention_of_documented_shape_and_range(unit, size, rng):
    module = randomize_(build_unit(SINGLE[unit], 16), std=0.5).eval()
    x = torch.randn(2, 16, *size, generator=rng)
    a = module.attention(x)
    assert tuple(a.shape) == SHAPES[unit](2, 16, *size)
    torch.testing.assert_close(module(x), x * a)
    upper = UPPER.get(unit, 1.0)
    assert a.min() > 0 and a.max() < upper
    if upper > 1:  # the documented wider range is actually used
        assert a.max() > 1
