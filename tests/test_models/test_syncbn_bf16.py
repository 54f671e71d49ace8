"""SyncBN and bfloat16 for every backbone family, neck and attention unit.

* SyncBN: each backbone (every preset of the preset backbones) and neck builds
  with ``norm_cfg=dict(type='SyncBN')`` with a SyncBatchNorm in place of every
  BatchNorm of the ``BN`` build (so ``norm_cfg`` reaches every norm layer, also
  inside nested blocks and units), converts with
  ``nn.SyncBatchNorm.convert_sync_batchnorm``, and converts back with MMEngine's
  ``revert_sync_batchnorm`` into a model that runs and equals the BN build
  (a CPU run keeps BatchNorm: torch's SyncBatchNorm refuses CPU tensors in a
  process group, see ``mmpose_lite.engine.dist.wrap_cpu_ddp``).
* bfloat16: under ``torch.autocast('cpu', dtype=torch.bfloat16)`` forward and
  backward are finite and the outputs are within :data:`BF16_RTOL` (relative
  L2 error) of fp32, for every backbone family, neck and unit.

``python -m tests.test_models.test_syncbn_bf16`` prints the measured bf16
errors (the figures the README quotes).
"""
import copy

import pytest
import torch
from mmengine.model import revert_sync_batchnorm
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import mmpose_lite.models.backbones as backbones
import mmpose_lite.models.necks as necks
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
from mmpose_lite.models.units import CrossResolutionUnit
from mmpose_lite.registry import UNITS, build_unit
from ..conftest import TINY_RESNET, tiny_hrnet_extra

BN = dict(type='BN')
SYNC_BN = dict(type='SyncBN')


_FEATS = ((8, 16, 16), (16, 8, 8), (32, 4, 4))  # (channels, h, w) of a 3-branch feature list


def _feats(n=2):
    g = torch.Generator().manual_seed(0)
    return tuple(torch.randn(n, c, h, w, generator=g) for c, h, w in _FEATS)


def _image(size, n=2):
    return torch.randn(n, 3, *size, generator=torch.Generator().manual_seed(0))


def _cases():
    """name -> (build(norm_cfg) -> module, input factory). Every preset of the
    preset backbones, MMPose-composed backbones with a unit that takes the
    host's ``norm_cfg`` (PointwiseConv) and with PSA, and the necks."""
    cases = {}
    for arch in LightHRNet.arch_zoo:
        cases[f'LightHRNet-{arch}'] = (lambda n, a=arch: LightHRNet(arch=a, norm_cfg=n), lambda: _image((64, 64)))
    # XHRNet's presets are LightHRNet's s*/p* ones (covered above); the class once
    cases['XHRNet-s18'] = (lambda n: XHRNet(arch='s18', norm_cfg=n), lambda: _image((64, 64)))
    for arch in StackedHourglass.arch_zoo:
        cases[f'StackedHourglass-{arch}'] = (lambda n, a=arch: StackedHourglass(arch=a, norm_cfg=n),
                                             lambda: _image((64, 64)))
    for arch in SlidePoseNet.arch_zoo:
        cases[f'SlidePoseNet-{arch}'] = (lambda n, a=arch: SlidePoseNet(arch=a, norm_cfg=n),
                                         lambda: _image((64, 64)))
    cases['AttentionResNet-50-PSA'] = (lambda n: AttentionResNet(50, norm_cfg=n), lambda: _image((64, 64)))
    cases['AttentionResNet-18-PointwiseConv'] = (
        lambda n: AttentionResNet(18, unit=dict(type='PointwiseConv'), norm_cfg=n, **TINY_RESNET),
        lambda: _image((32, 32)))
    for unit in ('PSA', 'PointwiseConv'):
        cases[f'AttentionHRNet-{unit}'] = (
            lambda n, u=unit: AttentionHRNet(tiny_hrnet_extra(), unit=dict(type=u), unit_blocks=('BASIC', 'BOTTLENECK'),
                                             norm_cfg=n), lambda: _image((64, 64)))
    channels = [c for c, _, _ in _FEATS]
    for unit in ('PSA', 'PointwiseConv', 'CrossResolutionWeighting'):
        cfg = dict(type=unit, ratio=4) if unit == 'CrossResolutionWeighting' else dict(type=unit)
        cases[f'AttentionNeck-{unit}'] = (lambda n, c=cfg: AttentionNeck(channels, unit=c, norm_cfg=n), _feats)
    cases['MultiResolutionFuseNeck'] = (lambda n: MultiResolutionFuseNeck(channels, out_channels=16, norm_cfg=n),
                                        _feats)
    return cases


CASES = _cases()


def test_every_backbone_preset_and_neck_is_covered():
    classes = {getattr(backbones, n) for n in backbones.__all__} | {getattr(necks, n) for n in necks.__all__}
    covered = {name.split('-')[0] for name in CASES}
    assert {c.__name__ for c in classes} <= covered
    for cls in (LightHRNet, StackedHourglass, SlidePoseNet):
        assert {f'{cls.__name__}-{a}' for a in cls.arch_zoo} <= set(CASES)


def _count(model, kind):
    return sum(1 for m in model.modules() if isinstance(m, kind))


def _outputs(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _run(model, x, train):
    model.train(train)
    with torch.no_grad():
        return _outputs(model(x))


@pytest.mark.parametrize('name', sorted(CASES))
def test_syncbn_builds_converts_and_reverts(name):
    build, inputs = CASES[name]
    torch.manual_seed(0)
    plain = build(BN)
    n_norm = _count(plain, _BatchNorm)
    if not name.startswith('AttentionNeck-PSA'):  # PSA has no BatchNorm (its LayerNorm is its own)
        assert n_norm > 0
    # norm_cfg reaches every norm layer: one SyncBatchNorm for each BatchNorm of the BN build, no BN left
    sync = build(SYNC_BN)
    assert _count(sync, nn.SyncBatchNorm) == n_norm
    assert _count(sync, _BatchNorm) == n_norm
    sync.load_state_dict(plain.state_dict())  # same parameters and buffers, strictly

    # back to BatchNorm (what a single process or a CPU DDP run does): it runs and equals the BN build
    reverted = revert_sync_batchnorm(sync)
    assert _count(reverted, nn.SyncBatchNorm) == 0 and _count(reverted, _BatchNorm) == n_norm
    x = inputs()
    for train in (True, False):  # batch statistics, then the running ones both updated
        expected = _run(plain, x, train)
        got = _run(reverted, x, train)
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, rtol=0, atol=0)

    # torch's conversion of the BN build (what MMEngine's cfg.sync_bn='torch' does on GPUs)
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(plain)
    assert _count(converted, nn.SyncBatchNorm) == n_norm


# --------------------------------------------------------------------------------------------------------------
# bfloat16

#: Relative L2 error ``|y_bf16 - y_fp32| / |y_fp32|`` allowed for each output,
#: by family (the case name's first part; ``unit`` for every unit). bfloat16
#: keeps 8 significant bits (rounding 2**-9 = 0.2 % per value): a single unit
#: or neck stays near that. Whole backbones lose more where BatchNorm subtracts
#: a channel mean that is large against the channel's spread from
#: bf16-rounded activations (the relative rounding error grows by that ratio,
#: largest in the pre-activation hourglass), compounded over depth. Each
#: bound is about twice the largest error measured for the family (table in
#: the README: ``python -m tests.test_models.test_syncbn_bf16``).
BF16_RTOL = {
    'unit': 0.02,
    'AttentionNeck': 0.02,
    'MultiResolutionFuseNeck': 0.02,
    'AttentionResNet': 0.05,
    'SlidePoseNet': 0.05,
    'AttentionHRNet': 0.1,
    'XHRNet': 0.12,
    'LightHRNet': 0.2,
    'StackedHourglass': 0.3,
}


def _bf16_cases():
    """name -> (module factory, input factory): one small model per backbone
    family and block type, the necks, and every unit (both PSA layouts and
    SUSA directions)."""
    def hr(block):
        return lambda: LightHRNet(arch=dict(base=block, num_modules=(1, 1, 1)))
    cases = {
        'LightHRNet-naive-18': (hr('naive-18'), lambda: _image((64, 64))),
        'LightHRNet-18': (hr('18'), lambda: _image((64, 64))),
        'XHRNet-s18': (hr('s18'), lambda: _image((64, 64))),
        'XHRNet-p18': (hr('p18'), lambda: _image((64, 64))),
        'StackedHourglass-tiny': (lambda: StackedHourglass(arch='tiny'), lambda: _image((64, 64))),
        'SlidePoseNet-light': (lambda: SlidePoseNet(arch=dict(base='light', depths=(1, 1, 1, 1))),
                               lambda: _image((64, 64))),
        'AttentionResNet-18-PSA': (lambda: AttentionResNet(18, **TINY_RESNET), lambda: _image((32, 32))),
        'AttentionHRNet-PSA': (lambda: AttentionHRNet(tiny_hrnet_extra()), lambda: _image((64, 64))),
        'AttentionNeck-PSA': (lambda: AttentionNeck([c for c, _, _ in _FEATS]), _feats),
        'MultiResolutionFuseNeck': (lambda: MultiResolutionFuseNeck([c for c, _, _ in _FEATS], out_channels=16),
                                    _feats),
    }
    for name, cls in sorted(UNITS.module_dict.items()):
        if issubclass(cls, CrossResolutionUnit):
            cfg = dict(type=name, ratio=4) if name == 'CrossResolutionWeighting' else dict(type=name)
            cases[f'unit-{name}'] = (lambda c=cfg: build_unit(c, [c for c, _, _ in _FEATS]), lambda: list(_feats()))
            continue
        cfgs = {'PSA': [dict(layout='parallel'), dict(layout='sequential')],
                'SUSA': [dict(dim='h'), dict(dim='w')]}.get(name, [{}])
        for extra in cfgs:
            cfg = dict(type=name, **extra)
            key = '-'.join(['unit', name, *map(str, extra.values())])
            cases[key] = (lambda c=cfg: build_unit(c, 32),
                          lambda: torch.randn(2, 32, 16, 12, generator=torch.Generator().manual_seed(0)))
    return cases


BF16_CASES = _bf16_cases()


def test_every_unit_and_family_is_in_the_bf16_cases():
    assert set(UNITS.module_dict) == {k.split('-')[1] for k in BF16_CASES if k.startswith('unit-')}
    families = {k.split('-')[0] for k in BF16_CASES}
    assert families == set(BF16_RTOL)
    assert {name.split('-')[0] for name in CASES} <= families


def _leaves(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _error(out, ref):
    return [((a - b).norm() / b.norm()).item() for a, b in zip(out, ref)]


def bf16_errors(name):
    """Run ``BF16_CASES[name]`` in fp32 and under CPU bfloat16 autocast, with
    the same weights and input.

    * train mode, forward and backward (a random linear loss on the outputs):
      what an ``AmpOptimWrapper`` training step computes;
    * eval mode, forward, with every BatchNorm's running statistics set to
      the input's own batch statistics (an fp32 train-mode pass with momentum
      1), as a trained model's would match its data.

    Returns:
        dict: ``train`` and ``eval``: the relative L2 error of each output;
        ``outputs``: the bf16 train-mode outputs (as float); ``grads``: the
        bf16 gradients (inputs, then parameters).
    """
    build, inputs = BF16_CASES[name]
    torch.manual_seed(0)
    model = build().train()
    ref_model = copy.deepcopy(model)
    x = inputs()

    def run(m, autocast):
        g = torch.Generator().manual_seed(1)
        xs = [t.clone().requires_grad_() for t in _leaves(x)]
        arg = xs if isinstance(x, (list, tuple)) else xs[0]
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            outs = [o.float() for o in _outputs(m(arg))]
        sum((o * torch.randn(o.shape, generator=g)).sum() for o in outs).backward()
        return outs, [t.grad for t in xs] + [p.grad for p in m.parameters() if p.requires_grad]

    ref, _ = run(ref_model, False)
    outs, grads = run(model, True)
    result = dict(train=_error(outs, ref), outputs=outs, grads=grads)

    norms = [m for m in ref_model.modules() if isinstance(m, _BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0
    _run(ref_model, x, True)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    ref = _run(ref_model, x, False)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = [o.float() for o in _run(ref_model, x, False)]
    result['eval'] = _error(got, ref)
    return result


@pytest.mark.parametrize('name', sorted(BF16_CASES))
def test_bf16_autocast_is_finite_and_close_to_fp32(name):
    result = bf16_errors(name)
    tol = BF16_RTOL[name.split('-')[0]]
    assert all(torch.isfinite(o).all() for o in result['outputs']), f'{name}: non-finite bf16 output'
    grads = result['grads']
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), f'{name}: bad bf16 gradient'
    assert any(g.abs().sum() > 0 for g in grads), f'{name}: all bf16 gradients are zero'
    for mode in ('train', 'eval'):
        err = max(result[mode])
        assert err < tol, f'{name} ({mode} mode): relative error {err:.4f} of bf16 vs fp32 >= {tol}'


if __name__ == '__main__':
    print(f"{'model / unit':<32} {'train':>8} {'eval':>8} {'bound':>6}   (max relative L2 error, bf16 vs fp32)")
    for key in sorted(BF16_CASES):
        r = bf16_errors(key)
        print(f"{key:<32} {max(r['train']):>8.4f} {max(r['eval']):>8.4f} {BF16_RTOL[key.split('-')[0]]:>6}")
