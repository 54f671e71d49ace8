"""PSA units, the unit residual blocks and the PSA-ResNet/PSA-HRNet backbones.
What every unit and backbone shares (attention shape and range, a loss step
in every host, ``with_cp``, ``norm_eval``, ``frozen_stages``) is tested in
:mod:`.test_common_behaviour`."""
import copy
import inspect

import pytest
import torch
import torch.nn.functional as F
from mmpose.models.backbones import HRNet, ResNet
from mmpose.models.backbones.resnet import BasicBlock, Bottleneck
from torch.nn.modules.batchnorm import _BatchNorm

from mmpose_lite.models import AttentionHRNet, AttentionResNet
from mmpose_lite.models.blocks import UnitBasicBlock, UnitBottleneck
from mmpose_lite.models.units import PSA, PSAChannel
from mmpose_lite.registry import build_unit
from ..conftest import TINY_RESNET, randomize_, tiny_hrnet_extra


def test_psa_follows_the_papers_equations():
    """Eq. (2)-(5) written out with plain tensor ops."""
    c = 8
    unit = randomize_(PSA(c, layout='parallel'), std=0.5).eval()
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


def test_psa_rejects_bad_arguments_and_keeps_its_own_norm():
    with pytest.raises(ValueError, match=r"unknown layout 'serial'; valid layouts: \['parallel', 'sequential'\]"):
        PSA(8, layout='serial')
    with pytest.raises(ValueError, match='channels must be an int >= 2'):
        PSAChannel(1)
    # norm_cfg is not taken from a host (the LayerNorm is the design's)
    unit = build_unit(dict(type='PSA'), 8, norm_cfg=dict(type='GN', num_groups=2), conv_cfg=None)
    assert not any(isinstance(m, torch.nn.GroupNorm) for m in unit.modules())


def test_psa_authors_form_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"unknown form 'author'; valid forms: \['paper', 'authors'\]"):
        PSA(8, form='author')
    with pytest.raises(ValueError, match=r"unknown form 'authors'; valid forms: \['paper', 'authors_p', 'authors_s'\]"):
        PSAChannel(8, form='authors')
    with pytest.raises(ValueError, match="form 'authors_s' needs channels >= 8"):
        PSA(6, layout='sequential', form='authors')
    # the paper's form is unchanged by the option: its names and shapes, which checkpoints rely on
    assert {k for k in PSA(8).state_dict()} == {
        f'{b}.{n}' for b in ('channel', 'spatial') for n in ('wq.conv.weight', 'wv.conv.weight', 'wv.conv.bias')
    } | {'channel.wz.conv.weight', 'channel.wz.conv.bias', 'channel.ln.weight', 'channel.ln.bias',
         'spatial.wq.conv.bias'}


def test_psa_init_is_the_authors_and_a_hosts_init_cfg_applies_in_a_host():
    """W_q and W_v: Kaiming normal with fan_in (std sqrt(2 / C)), as the
    authors' reset_parameters, at construction and after ``init_weights``
    (MMCV's ConvModule default, fan_out, would give the one-channel query of
    the channel branch std sqrt(2)). In a host, the host's init_cfg reaches
    the unit's convolutions: MMPose's HRNet draws them from N(0, 0.001), as
    the authors' HRNet (hrnetv2.py) does for their PSA modules."""
    unit = PSA(512, layout='sequential')
    for fresh in (True, False):
        if not fresh:
            unit.init_weights()  # BaseModule's, which re-runs ConvModule's fan_out init, then the authors'
        for conv in (unit.channel.wq.conv, unit.spatial.wq.conv, unit.spatial.wv.conv):
            std = conv.weight.std().item()
            assert 0.8 < std / (2 / 512) ** 0.5 < 1.2, (conv, std)
        bound = 1 / 256**0.5  # W_z (C/2 -> C): PyTorch's default, uniform within 1/sqrt(fan_in)
        assert unit.channel.wz.conv.weight.abs().max() <= bound and unit.channel.wz.conv.weight.std() > bound / 3
    host = AttentionHRNet(tiny_hrnet_extra(), unit=dict(type='PSA', layout='sequential', form='authors'))
    host.init_weights()
    in_host = next(m for m in host.modules() if isinstance(m, PSA))
    assert 0.0005 < in_host.spatial.wv.conv.weight.std() < 0.002
    # an init_cfg of the unit's own is honoured instead of the authors' init
    branch = PSAChannel(8, init_cfg=dict(type='Constant', val=0.5, layer='Conv2d'))
    branch.init_weights()
    assert (branch.wq.conv.weight == 0.5).all() and (branch.wz.conv.weight == 0.5).all()


# ---------------------------------------------------------------- blocks
@pytest.mark.parametrize('block_cls, plain_cls, after', [(UnitBottleneck, Bottleneck, 'norm2'),
                                                         (UnitBasicBlock, BasicBlock, 'norm1')])
def test_unit_block_is_mmpose_block_with_unit_after_first_3x3(block_cls, plain_cls, after):
    """The unit sees exactly relu(norm(conv3x3)) and its output feeds the next conv."""
    block = randomize_(block_cls(16, 16, unit=dict(type='PSA', layout='sequential')), std=0.2).eval()
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
    block = randomize_(UnitBasicBlock(8, 8), std=0.3).eval()
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


def test_state_dicts_load_from_mmpose_resnet_and_hrnet():
    hrnet = AttentionHRNet(tiny_hrnet_extra(), unit_blocks=('BASIC', 'BOTTLENECK'))
    for ours, plain in [(AttentionResNet(50), ResNet(50)), (hrnet, HRNet(tiny_hrnet_extra()))]:
        missing, unexpected = ours.load_state_dict(plain.state_dict(), strict=False)
        assert not unexpected
        assert missing and all('.unit.' in k for k in missing), [k for k in missing if '.unit.' not in k][:3]
        n_units = sum(1 for m in ours.modules() if isinstance(m, PSA))
        assert n_units == sum(1 for m in ours.modules() if isinstance(m, (BasicBlock, Bottleneck)))
    # unit=None is MMPose's model: strict load, equal outputs
    plain = randomize_(ResNet(18, **TINY_RESNET), std=0.2)
    plain.eval()  # MMPose's ResNet.train() returns None, so eval() cannot be chained
    ours = AttentionResNet(18, unit=None, **TINY_RESNET)
    ours.load_state_dict(plain.state_dict(), strict=True)
    x = torch.randn(1, 3, 32, 32)
    for a, b in zip(ours.eval()(x), plain(x)):
        torch.testing.assert_close(a, b)


def test_mmpose_class_dicts_are_untouched_and_hrnet_places_units_per_block_type():
    arch, blocks = copy.copy(ResNet.arch_settings), copy.copy(HRNet.blocks_dict)
    AttentionResNet(18, **TINY_RESNET)
    basic_only = AttentionHRNet(tiny_hrnet_extra())
    assert ResNet.arch_settings == arch and HRNet.blocks_dict == blocks
    assert all(type(m) is Bottleneck for m in basic_only.layer1)            # stage 1 stays plain
    assert all(isinstance(m.unit, PSA) for m in basic_only.modules() if isinstance(m, UnitBasicBlock))
    assert any(isinstance(m, UnitBasicBlock) for m in basic_only.stage4.modules())


@pytest.mark.parametrize('build', [
    lambda: AttentionResNet(18, unit=dict(type='PSA'), norm_cfg=dict(type='GN', num_groups=2), **TINY_RESNET),
    lambda: AttentionHRNet(tiny_hrnet_extra('BASIC'), unit=dict(type='PointwiseConv'),
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


@pytest.mark.parametrize('build, error, match', [
    (lambda: AttentionResNet(42), KeyError, r'invalid depth 42; valid depths: \[18, 34, 50, 101, 152\]'),
    (lambda: AttentionResNet(18, unit=dict(type='NoSuch')), KeyError, "AttentionResNet: bad unit: unknown.*valid"),
    (lambda: AttentionHRNet(tiny_hrnet_extra(), unit=dict(layout='parallel')), TypeError, 'AttentionHRNet: bad unit'),
    (lambda: AttentionHRNet(tiny_hrnet_extra(), unit_blocks=('BASICS', )), ValueError,
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
