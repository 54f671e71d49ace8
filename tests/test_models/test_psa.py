"""PSA units, the unit residual blocks and the PSA-ResNet/PSA-HRNet backbones,
and every single-tensor unit in every host (skeleton block, ResNet/HRNet
blocks, attention neck) taking a loss step."""
import copy
import inspect

import pytest
import torch
import torch.nn.functional as F
from mmpose.models.backbones import HRNet, ResNet
from mmpose.models.backbones.resnet import BasicBlock, Bottleneck
from torch.nn.modules.batchnorm import _BatchNorm

import mmpose_lite  # noqa: F401  (registers every unit)
from mmpose_lite.models import AttentionHRNet, AttentionNeck, AttentionResNet, LightHRNet
from mmpose_lite.models.blocks import UnitBasicBlock, UnitBottleneck
from mmpose_lite.models.units import PSA, AttentionUnit, CrossResolutionUnit, PSAChannel
from mmpose_lite.registry import UNITS, build_unit

from ..conftest import assert_same_outputs_and_grads


def _randomize(module, std=0.5):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _, t in sorted(module.state_dict().items()):
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.5 if t.ndim == 1 and 'running_var' in _ else
                        torch.randn(t.shape, generator=g) * std)
    return module


def _single_tensor_units():
    """Every registered unit with the ``unit(x) -> x'`` contract (cross-resolution
    units take lists and are hosted by the neck only), PSA in both layouts and
    SUSA in both directions. ``PointwiseConv`` is not an attention but honours
    the same contract, so the hosts take it as well."""
    cfgs = []
    for name, cls in sorted(UNITS.module_dict.items()):
        if issubclass(cls, CrossResolutionUnit):
            continue
        if name == 'PSA':
            cfgs += [dict(type='PSA', layout='parallel'), dict(type='PSA', layout='sequential')]
        elif name == 'SUSA':
            cfgs += [dict(type='SUSA', dim='h'), dict(type='SUSA', dim='w')]
        else:
            cfgs.append(dict(type=name))
    return cfgs


UNIT_CFGS = _single_tensor_units()
UNIT_IDS = ['-'.join(str(v) for v in c.values()) for c in UNIT_CFGS]

# documented attention shape and open range of each AttentionUnit
SHAPES = {
    'PSAChannel': lambda n, c, h, w: (n, c, 1, 1),
    'PSASpatial': lambda n, c, h, w: (n, 1, h, w),
    'PSA': lambda n, c, h, w: (n, c, h, w),
    'SpatialWeighting': lambda n, c, h, w: (n, c, 1, 1),
    'SUSA-h': lambda n, c, h, w: (n, c, h, 1),
    'SUSA-w': lambda n, c, h, w: (n, c, 1, w),
}
UPPER = {'PSA-parallel': 2.0}   # x * (A_ch + A_sp): a sum of two (0, 1) weights


def test_all_psa_variants_and_known_units_are_enumerated():
    ids = set(UNIT_IDS)
    assert {'PSA-parallel', 'PSA-sequential', 'PSAChannel', 'PSASpatial', 'SUSA-h', 'SUSA-w', 'HWSUSA',
            'SpatialWeighting', 'PointwiseConv'} <= ids
    assert 'CrossResolutionWeighting' not in ids


ATTENTION = [(c, i) for c, i in zip(UNIT_CFGS, UNIT_IDS) if issubclass(UNITS.get(c['type']), AttentionUnit)]


@pytest.mark.parametrize('cfg', [c for c, _ in ATTENTION], ids=[i for _, i in ATTENTION])
@pytest.mark.parametrize('size', [(12, 10), (5, 7)])
def test_unit_is_x_times_attention_of_documented_shape_and_range(cfg, size):
    key = '-'.join(str(v) for v in cfg.values())
    unit = _randomize(build_unit(cfg, 16)).eval()
    x = torch.randn(2, 16, *size)
    a = unit.attention(x)
    shape = SHAPES.get(key, SHAPES.get(cfg['type']))
    if shape is not None:
        assert tuple(a.shape) == shape(2, 16, *size)
    torch.testing.assert_close(unit(x), x * a)
    upper = UPPER.get(key, 1.0)
    assert a.min() > 0 and a.max() < upper
    if upper > 1:  # the documented wider range is actually used
        assert a.max() > 1


def test_psa_follows_the_papers_equations():
    """Eq. (2)-(5) written out with plain tensor ops."""
    c = 8
    unit = _randomize(PSA(c, layout='parallel')).eval()
    ch, sp = unit.channel, unit.spatial
    x = torch.randn(2, c, 6, 5)

    def conv(m, t):
        return F.conv2d(t, m.conv.weight, m.conv.bias)

    def a_ch(t):
        q = conv(ch.wq, t).reshape(2, 1, -1).softmax(-1)                  # softmax over H*W
        z = torch.einsum('nkp,np->nk', conv(ch.wv, t).reshape(2, c // 2, -1), q[:, 0])
        z = conv(ch.wz, z[..., None, None]).reshape(2, c)
        return torch.sigmoid(F.layer_norm(z, (c, ), ch.ln.weight, ch.ln.bias)).reshape(2, c, 1, 1)

    def a_sp(t):
        q = conv(sp.wq, t).mean((2, 3)).softmax(-1)                       # softmax over C/2
        s = torch.einsum('nk,nkp->np', q, conv(sp.wv, t).reshape(2, c // 2, -1))
        return torch.sigmoid(s).reshape(2, 1, 6, 5)

    torch.testing.assert_close(ch.attention(x), a_ch(x))
    torch.testing.assert_close(sp.attention(x), a_sp(x))
    torch.testing.assert_close(unit(x), x * a_ch(x) + x * a_sp(x))
    seq = PSA(c, layout='sequential').eval()
    seq.load_state_dict(unit.state_dict())
    z = x * a_ch(x)
    torch.testing.assert_close(seq(x), z * a_sp(z))
    # same weights, different layouts, different outputs
    assert (seq(x) - unit(x)).abs().max() > 1e-2


def test_psa_is_registered_and_rejects_bad_arguments():
    from mmpose.registry import MODELS
    for name in ['PSA', 'PSAChannel', 'PSASpatial']:
        assert UNITS.get(name) is MODELS.get(name)
    with pytest.raises(ValueError, match=r"unknown layout 'serial'; valid layouts: \['parallel', 'sequential'\]"):
        PSA(8, layout='serial')
    with pytest.raises(ValueError, match='channels must be an int >= 2'):
        PSAChannel(1)
    # norm_cfg is not taken from a host (the LayerNorm is the design's)
    unit = build_unit(dict(type='PSA'), 8, norm_cfg=dict(type='GN', num_groups=2), conv_cfg=None)
    assert not any(isinstance(m, torch.nn.GroupNorm) for m in unit.modules())


# ---------------------------------------------------------------- blocks
@pytest.mark.parametrize('block_cls, plain_cls, after', [(UnitBottleneck, Bottleneck, 'norm2'),
                                                         (UnitBasicBlock, BasicBlock, 'norm1')])
def test_unit_block_is_mmpose_block_with_unit_after_first_3x3(block_cls, plain_cls, after):
    """The unit sees exactly relu(norm(conv3x3)) and its output feeds the next conv."""
    torch.manual_seed(0)
    block = _randomize(block_cls(16, 16, unit=dict(type='PSA', layout='sequential')), std=0.2).eval()
    plain = plain_cls(16, 16).eval()
    missing, unexpected = plain.load_state_dict(block.state_dict(), strict=False)
    assert not missing and all(k.startswith('unit.') for k in unexpected) and unexpected
    seen = []
    block.unit.register_forward_hook(lambda m, i, o: seen.append((i[0].clone(), o)))
    x = torch.randn(2, 16, 8, 6)
    y = block(x)
    mid = torch.relu(plain.norm1(plain.conv1(x)))
    if after == 'norm2':
        mid = torch.relu(plain.norm2(plain.conv2(mid)))
    torch.testing.assert_close(seen[0][0], mid)
    # swapping the unit for identity gives MMPose's block
    block.unit.forward = lambda t: t
    torch.testing.assert_close(block(x), plain(x))
    assert not torch.allclose(y, plain(x))


def test_unit_none_is_mmpose_block_and_kwargs_pass_through():
    block = UnitBottleneck(32, 64, unit=None, stride=2, downsample=torch.nn.Conv2d(32, 64, 1, 2))
    assert block.unit is None and block.stride == 2
    assert block(torch.randn(1, 32, 8, 8)).shape == (1, 64, 4, 4)
    assert UnitBottleneck.with_unit(None).expansion == 4 and UnitBasicBlock.with_unit(None).expansion == 1


def test_block_deepcopy_rebinds_the_unit():
    """EMA hooks deepcopy the model: the copy must run its own unit."""
    block = _randomize(UnitBasicBlock(8, 8), std=0.3).eval()
    x = torch.randn(1, 8, 6, 6)
    y = block(x)
    twin = copy.deepcopy(block)
    with torch.no_grad():
        for p in twin.unit.parameters():
            p.mul_(-2.0)
    fresh = UnitBasicBlock(8, 8).eval()
    fresh.load_state_dict(twin.state_dict())
    torch.testing.assert_close(twin(x), fresh(x))
    torch.testing.assert_close(block(x), y)
    assert not torch.allclose(twin(x), y)


# ---------------------------------------------------------------- backbones
def tiny_extra(block='BOTTLENECK', multiscale=False):
    def stage(n, b, ch):
        return dict(num_modules=1, num_branches=n, block=b, num_blocks=(1, ) * n, num_channels=ch)
    return dict(stage1=stage(1, block, (8, )), stage2=stage(2, 'BASIC', (8, 16)),
                stage3=stage(3, 'BASIC', (8, 16, 16)),
                stage4=dict(stage(4, 'BASIC', (8, 16, 16, 16)), multiscale_output=multiscale))


TINY_RESNET = dict(stem_channels=8, base_channels=8, num_stages=2, strides=(1, 2), dilations=(1, 1),
                   out_indices=(0, 1))


def _host(name, unit):
    """A host of ``unit``, built small, as (module, input)."""
    if name == 'skeleton':
        block = dict(type='ShuffleBlock', pre=unit, post=unit)
        return LightHRNet(arch=dict(base='s18', num_modules=(1, 1, 1), block=block)), torch.randn(2, 3, 64, 64)
    if name == 'resnet-bottleneck':
        return AttentionResNet(50, unit=unit, **TINY_RESNET), torch.randn(2, 3, 32, 32)
    if name == 'resnet-basic':
        return AttentionResNet(18, unit=unit, **TINY_RESNET), torch.randn(2, 3, 32, 32)
    if name == 'hrnet':  # 64x64: the lowest branch is 2x2, not a degenerate 1x1
        return (AttentionHRNet(tiny_extra(), unit=unit, unit_blocks=('BASIC', 'BOTTLENECK')),
                torch.randn(2, 3, 64, 64))
    assert name == 'neck'
    return AttentionNeck([16, 32], unit=unit), (torch.randn(2, 16, 8, 6), torch.randn(2, 32, 4, 3))


@pytest.mark.parametrize('host', ['skeleton', 'resnet-bottleneck', 'resnet-basic', 'hrnet', 'neck'])
@pytest.mark.parametrize('unit', UNIT_CFGS, ids=UNIT_IDS)
def test_every_unit_in_every_host_takes_a_loss_step(unit, host):
    torch.manual_seed(0)
    model, x = _host(host, unit)
    units = [m for m in model.modules() if isinstance(m, UNITS.get(unit['type']))]
    assert units, f'{host} built no {unit["type"]}'
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


def test_state_dicts_load_from_mmpose_resnet_and_hrnet():
    for ours, plain in [(AttentionResNet(50), ResNet(50)),
                        (AttentionHRNet(tiny_extra(), unit_blocks=('BASIC', 'BOTTLENECK')), HRNet(tiny_extra()))]:
        missing, unexpected = ours.load_state_dict(plain.state_dict(), strict=False)
        assert not unexpected
        assert missing and all('.unit.' in k for k in missing), [k for k in missing if '.unit.' not in k][:3]
        n_units = sum(1 for m in ours.modules() if isinstance(m, PSA))
        assert n_units == sum(1 for m in ours.modules() if isinstance(m, (BasicBlock, Bottleneck)))
    # unit=None is MMPose's model: strict load, equal outputs
    plain = _randomize(ResNet(18, **TINY_RESNET), std=0.2)
    plain.eval()  # MMPose's ResNet.train() returns None, so eval() cannot be chained
    ours = AttentionResNet(18, unit=None, **TINY_RESNET)
    ours.load_state_dict(plain.state_dict(), strict=True)
    x = torch.randn(1, 3, 32, 32)
    for a, b in zip(ours.eval()(x), plain(x)):
        torch.testing.assert_close(a, b)


def test_mmpose_class_dicts_are_untouched_and_hrnet_places_units_per_block_type():
    arch, blocks = copy.copy(ResNet.arch_settings), copy.copy(HRNet.blocks_dict)
    AttentionResNet(18, **TINY_RESNET)
    basic_only = AttentionHRNet(tiny_extra())
    assert ResNet.arch_settings == arch and HRNet.blocks_dict == blocks
    assert all(type(m) is Bottleneck for m in basic_only.layer1)            # stage 1 stays plain
    assert all(isinstance(m.unit, PSA) for m in basic_only.modules() if isinstance(m, UnitBasicBlock))
    assert any(isinstance(m, UnitBasicBlock) for m in basic_only.stage4.modules())


@pytest.mark.parametrize('build', [
    lambda: AttentionResNet(18, unit=dict(type='PSA'), norm_cfg=dict(type='GN', num_groups=2), **TINY_RESNET),
    lambda: AttentionHRNet(tiny_extra('BASIC'), unit=dict(type='PointwiseConv'),
                           norm_cfg=dict(type='GN', num_groups=2)),
    lambda: AttentionResNet(18, unit=dict(type='PointwiseConv'), norm_cfg=dict(type='GN', num_groups=2),
                            **TINY_RESNET),
])
def test_norm_cfg_is_passed_down_to_blocks_and_units(build):
    model = build()
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    units = [m.unit for m in model.modules() if isinstance(m, (UnitBasicBlock, UnitBottleneck))]
    assert units
    if units[0].__class__.__name__ == 'PointwiseConv':
        assert all(isinstance(u.norm, torch.nn.GroupNorm) for u in units)


@pytest.mark.parametrize('make', [
    lambda cp: AttentionResNet(50, unit=dict(type='PSA', layout='sequential'), with_cp=cp, **TINY_RESNET),
    lambda cp: AttentionHRNet(tiny_extra(), unit=dict(type='PSA'), unit_blocks=('BASIC', 'BOTTLENECK'),
                              with_cp=cp),
])
def test_with_cp_gives_equal_outputs_and_gradients(make, monkeypatch):
    import mmpose.models.backbones.resnet as mmpose_resnet
    calls = []
    real = mmpose_resnet.cp.checkpoint
    monkeypatch.setattr(mmpose_resnet.cp, 'checkpoint', lambda *a, **k: calls.append(1) or real(*a, **k))
    plain = _randomize(make(False), std=0.2)
    ckpt = make(True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert any('.unit.' in n for n, _ in plain.named_parameters())
    assert_same_outputs_and_grads(plain, ckpt, x, relative=True)
    assert calls, 'with_cp=True never went through torch.utils.checkpoint'


def test_train_returns_self_frozen_stages_and_norm_eval_reach_the_units():
    model = AttentionResNet(50, frozen_stages=1, norm_eval=True, **TINY_RESNET)
    assert model.train() is model
    assert all(not p.requires_grad for p in model.layer1.parameters())
    assert any('unit' in n for n, _ in model.layer1.named_parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not any(m.training for m in model.modules() if isinstance(m, _BatchNorm))
    hr = AttentionHRNet(tiny_extra(), frozen_stages=2)
    assert hr.train() is hr and all(not p.requires_grad for p in hr.stage2.parameters())


@pytest.mark.parametrize('build, error, match', [
    (lambda: AttentionResNet(42), KeyError, r'invalid depth 42; valid depths: \[18, 34, 50, 101, 152\]'),
    (lambda: AttentionResNet(18, unit=dict(type='NoSuch')), KeyError, "AttentionResNet: bad unit: unknown.*valid"),
    (lambda: AttentionHRNet(tiny_extra(), unit=dict(layout='parallel')), TypeError, 'AttentionHRNet: bad unit'),
    (lambda: AttentionHRNet(tiny_extra(), unit_blocks=('BASICS', )), ValueError,
     r"unit_blocks must be a sequence of \['BASIC', 'BOTTLENECK'\]"),
    (lambda: AttentionResNet(18, unit=dict(type='PSA', layout='x')), ValueError, 'valid layouts'),
])
def test_invalid_backbone_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_docstrings_have_paper_links():
    import mmpose_lite.models.backbones.attention_resnet as m_bb
    import mmpose_lite.models.units.psa as m_psa
    for mod in (m_psa, m_bb):
        assert 'arxiv.org/abs/2107.00782' in inspect.getdoc(mod)
