"""The contracts the skeletons and the deploy tool rely on, checked over every registered class.

* Units (:class:`~mmpose_lite.models.units.base.Unit`): every ``UNITS`` entry subclasses it,
  declares its host settings, keeps the shape of what it gets, and reads its input only through
  its declared ``input_conv()`` (so a pre-norm folds into it).
* Blocks (:class:`~mmpose_lite.models.blocks.base.BlockBase`): every ``BLOCKS`` entry subclasses
  it, declares ``multi_branch``, keeps shapes when built as ``HRModule`` builds it, and
  checkpoints through the base's ``forward`` with ``with_cp``.
* Registration refuses a class that breaks the contract, naming what is missing.
* Deploy (:class:`~mmpose_lite.deploy.Deployable`): every module with a deploy form keeps its
  state in ``deployed``, is exact and idempotent; no model class has its own deploy switch
  outside that convention; :func:`~mmpose_lite.deploy.fold_bn` folds both orders exactly.
"""
import importlib
import inspect
import pkgutil

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmpose_lite.deploy import Deployable, DeployMixin, can_fold_bn, fold_bn, switch_to_deploy
from mmpose_lite.models.blocks.base import BlockBase
from mmpose_lite.models.units.base import Unit
from mmpose_lite.registry import BLOCKS, HOST_KWARGS, UNITS, build_from, build_unit, register_block, register_unit
from ..conftest import randomize_

HOST = dict(conv_cfg=None, norm_cfg=dict(type='BN'), with_cp=False)
UNIT_NAMES = sorted(UNITS.module_dict)
BLOCK_NAMES = sorted(BLOCKS.module_dict)
#: the units that declare the conv they read their input through
INPUT_CONV_UNITS = [n for n in UNIT_NAMES if UNITS.get(n).input_conv is not Unit.input_conv]


def _unit_input(cls, rng):
    """Channels and an input for ``cls``: one (2, 16, 8, 6) map, or two branches for a cross-resolution unit."""
    if cls.cross_resolution:
        return [8, 16], [torch.randn(2, 8, 16, 12, generator=rng), torch.randn(2, 16, 8, 6, generator=rng)]
    return 16, torch.randn(2, 16, 8, 6, generator=rng)


def _shapes(out):
    return [tuple(t.shape) for t in out] if isinstance(out, (list, tuple)) else [tuple(out.shape)]


def _eval_copy(module):
    return randomize_(module, norm_weight=(0.5, 1.5)).eval()


def test_the_registries_are_not_empty():
    # the parametrized tests below would pass vacuously otherwise
    assert {'SUSA', 'HWSUSA', 'PSA', 'SlideAttention', 'GlobalSelfAttention', 'PointwiseConv',
            'CrossResolutionWeighting'} <= set(UNIT_NAMES)
    assert {'ShuffleBlock', 'ConditionalChannelWeightingBlock', 'TokenMixerBlock'} <= set(BLOCK_NAMES)


# ------------------------------------------------------------------------------------------- units


@pytest.mark.parametrize('name', UNIT_NAMES)
def test_every_unit_follows_the_unit_contract(name, rng):
    cls = UNITS.get(name)
    assert issubclass(cls, Unit) and issubclass(cls, nn.Module)
    assert isinstance(cls.host_kwargs, tuple) and set(cls.host_kwargs) <= set(HOST_KWARGS[:2])
    channels, x = _unit_input(cls, rng)
    unit = _eval_copy(build_unit(dict(type=name), channels, **HOST))
    with torch.no_grad():
        out = unit(x)
    assert _shapes(out) == _shapes(x), name
    assert isinstance(out, list) == cls.cross_resolution


@pytest.mark.parametrize('name', INPUT_CONV_UNITS)
def test_a_unit_reads_its_input_only_through_its_input_conv(name, rng):
    """What lets a block fold the norm before the unit into it: ``unit(bn(x))``
    equals the unit with ``bn`` folded into ``input_conv()``, applied to ``x``."""
    unit = _eval_copy(UNITS.get(name)(16))
    bn = _eval_copy(nn.BatchNorm2d(16))
    x = torch.randn(2, 16, 8, 6, generator=rng)
    with torch.no_grad():
        ref = unit(bn(x))
        fold_bn(unit.input_conv(), bn, bn_first=True)
        got = unit(x)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)


def test_the_token_mixers_declare_their_input_conv():
    assert set(INPUT_CONV_UNITS) >= {'SlideAttention', 'GlobalSelfAttention'}


# ------------------------------------------------------------------------------------------ blocks


@pytest.mark.parametrize('name', BLOCK_NAMES)
def test_every_block_follows_the_block_contract(name, rng):
    cls = BLOCKS.get(name)
    assert issubclass(cls, BlockBase)
    assert isinstance(cls.multi_branch, bool), f'{name} does not declare multi_branch'
    assert cls.host_kwargs == HOST_KWARGS
    channels = [8, 16] if cls.multi_branch else 16
    block = _eval_copy(build_from(BLOCKS, dict(type=name), channels, **HOST))
    x = ([torch.randn(1, 8, 16, 12, generator=rng), torch.randn(1, 16, 8, 6, generator=rng)]
         if cls.multi_branch else torch.randn(1, 16, 8, 6, generator=rng))
    with torch.no_grad():
        out = block(x)
    assert _shapes(out) == _shapes(x)


@pytest.mark.parametrize('name', BLOCK_NAMES)
def test_every_block_checkpoints_through_the_base_forward(name, rng, checkpoint_calls):
    cls = BLOCKS.get(name)
    channels = [8, 16] if cls.multi_branch else 16
    plain = build_from(BLOCKS, dict(type=name), channels, **HOST)
    ckpt = build_from(BLOCKS, dict(type=name), channels, **dict(HOST, with_cp=True))
    ckpt.load_state_dict(plain.state_dict())
    x = ([torch.randn(1, 8, 8, 6, generator=rng), torch.randn(1, 16, 4, 3, generator=rng)]
         if cls.multi_branch else torch.randn(1, 16, 4, 3, generator=rng))
    x = [t.requires_grad_() for t in x] if isinstance(x, list) else x.requires_grad_()
    ref = plain.train()(x)
    assert not checkpoint_calls
    out = ckpt.train()(x)
    assert checkpoint_calls, f'{name}: with_cp=True did not checkpoint'
    for a, b in zip(*(o if isinstance(o, list) else [o] for o in (ref, out))):
        torch.testing.assert_close(a, b)


# ------------------------------------------------------------------------------------ registration


def test_registration_refuses_a_class_outside_the_contract():
    class NotAUnit(nn.Module):
        pass

    class NotABlock(nn.Module):
        multi_branch = False

    class NoBranchKind(BlockBase):
        pass

    class BadHostKwargs(Unit, nn.Module):
        host_kwargs = ('conv_cfg', 'act_cfg')

    with pytest.raises(TypeError, match='NotAUnit.* is not a unit: subclass'):
        register_unit(NotAUnit)
    with pytest.raises(TypeError, match=r"BadHostKwargs: host_kwargs must be a tuple of names from \['conv_cfg'"):
        register_unit(BadHostKwargs)
    with pytest.raises(TypeError, match='NotABlock.* is not a block: subclass'):
        register_block(NotABlock)
    with pytest.raises(TypeError, match='NoBranchKind: a BLOCKS entry declares multi_branch'):
        register_block(NoBranchKind)
    for name in ('NotAUnit', 'BadHostKwargs', 'NotABlock', 'NoBranchKind'):
        assert name not in UNITS.module_dict and name not in BLOCKS.module_dict


# ------------------------------------------------------------------------------------------ deploy


def _deployables():
    """(id, module factory, input) of every registered unit/block with a deploy form, the token-mixer
    block with each kind of mixer."""
    cases = []
    for name in UNIT_NAMES:
        if issubclass(UNITS.get(name), Deployable):
            cases.append((name, lambda name=name: UNITS.get(name)(16), (2, 16, 8, 6)))
    for name in BLOCK_NAMES:
        if issubclass(BLOCKS.get(name), Deployable):
            for mixer in ('SlideAttention', 'GlobalSelfAttention', 'SUSA'):
                cases.append((f'{name}-{mixer}', lambda name=name, mixer=mixer: build_from(
                    BLOCKS, dict(type=name, mixer=dict(type=mixer)), 16, **HOST), (2, 16, 8, 6)))
    return cases


DEPLOYABLES = _deployables()


def test_the_deployables_are_found():
    assert {c[0] for c in DEPLOYABLES} >= {'SUSA', 'SlideAttention', 'TokenMixerBlock-SlideAttention'}


@pytest.mark.parametrize('build, shape', [c[1:] for c in DEPLOYABLES], ids=[c[0] for c in DEPLOYABLES])
def test_deploy_state_is_one_flag_exact_and_idempotent(build, shape, rng):
    module = _eval_copy(build())
    x = torch.randn(*shape, generator=rng)
    with torch.no_grad():
        ref = module(x)
    assert module.deployed is False and all(not getattr(m, 'deployed', False) for m in module.modules())
    module.switch_to_deploy()
    assert module.deployed is True
    with torch.no_grad():
        got = module(x)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    state = {k: v.clone() for k, v in module.state_dict().items()}
    module.switch_to_deploy()  # a second call changes nothing
    after = module.state_dict()
    assert state.keys() == after.keys() and all(torch.equal(state[k], after[k]) for k in state)
    with torch.no_grad():
        assert torch.equal(module(x), got)


def test_token_mixer_block_deploy_folds_its_pre_norms(rng):
    block = _eval_copy(build_from(BLOCKS, dict(type='TokenMixerBlock'), 16, **HOST))
    assert sum(isinstance(m, _BatchNorm) for m in block.modules()) == 2
    block.switch_to_deploy()
    assert not any(isinstance(m, _BatchNorm) for m in block.modules())
    assert block.mixer.deployed  # the block deploys its mixer too


def test_whole_model_deploy_marks_every_module_and_runs_each_rewrite_once(monkeypatch):
    calls = []
    real = Deployable.switch_to_deploy

    def counted(self, test_cfg=None):
        calls.append((type(self).__name__, self.deployed))
        return real(self, test_cfg)

    monkeypatch.setattr(Deployable, 'switch_to_deploy', counted)
    model = nn.Sequential(build_from(BLOCKS, dict(type='TokenMixerBlock'), 16, **HOST),
                          build_unit(dict(type='SUSA'), 16)).eval()
    switch_to_deploy(model)
    assert all(getattr(m, 'deployed', False) for m in model.modules())
    rewritten = [name for name, was_deployed in calls if not was_deployed]
    assert sorted(rewritten) == ['SUSA', 'SlideAttention', 'TokenMixerBlock']


def test_no_model_class_has_a_deploy_switch_outside_the_convention():
    import mmpose_lite.models as models
    own = []
    for info in pkgutil.walk_packages(models.__path__, prefix='mmpose_lite.models.'):
        for _, cls in inspect.getmembers(importlib.import_module(info.name), inspect.isclass):
            if not cls.__module__.startswith('mmpose_lite.models'):
                continue
            if 'switch_to_deploy' in vars(cls):
                own.append(cls.__qualname__)
            if callable(getattr(cls, 'switch_to_deploy', None)):
                assert issubclass(cls, (Deployable, DeployMixin)), cls.__qualname__
    assert not own, f'{own}: implement Deployable._deploy instead'


# ---------------------------------------------------------------------------------------- fold_bn


@pytest.mark.parametrize('kernel, stride, padding, groups', [(1, 1, 0, 1), (3, 2, 1, 1), (3, 1, 1, 4)])
def test_fold_bn_after_a_conv_is_exact(kernel, stride, padding, groups, rng):
    conv = nn.Conv2d(8, 12, kernel, stride=stride, padding=padding, groups=groups, bias=groups == 1)
    bn = _eval_copy(nn.BatchNorm2d(12))
    randomize_(conv)
    x = torch.randn(2, 8, 9, 7, generator=rng)
    with torch.no_grad():
        ref = bn(conv(x))
        fold_bn(conv, bn)
        torch.testing.assert_close(conv(x), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kernel, stride', [(1, 1), (3, 2)])
def test_fold_bn_before_an_unpadded_conv_is_exact(kernel, stride, rng):
    conv = randomize_(nn.Conv2d(8, 12, kernel, stride=stride, bias=kernel == 1))
    bn = _eval_copy(nn.BatchNorm2d(8))
    x = torch.randn(2, 8, 9, 7, generator=rng)
    with torch.no_grad():
        ref = conv(bn(x))
        assert can_fold_bn(conv, bn, bn_first=True)
        fold_bn(conv, bn, bn_first=True)
        torch.testing.assert_close(conv(x), ref, rtol=1e-5, atol=1e-5)


def test_fold_bn_refuses_what_it_cannot_fold_exactly():
    padded, bn = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
    weight = padded.weight.clone()
    assert not can_fold_bn(padded, bn, bn_first=True) and can_fold_bn(padded, bn)
    with pytest.raises(ValueError, match='fold_bn: a BatchNorm before a convolution folds only into a plain '
                       'Conv2d without padding'):
        fold_bn(padded, bn, bn_first=True)
    assert torch.equal(padded.weight, weight)  # nothing changed
    with pytest.raises(TypeError, match='fold_bn: it needs a Conv2d and a BatchNorm, got Conv2d and LayerNorm'):
        fold_bn(padded, nn.LayerNorm(8))
    with pytest.raises(ValueError, match='no running statistics'):
        fold_bn(padded, nn.BatchNorm2d(8, track_running_stats=False))
    with pytest.raises(ValueError, match='conv has 8 output channels, BatchNorm 4'):
        fold_bn(padded, nn.BatchNorm2d(4))
