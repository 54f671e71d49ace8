"""What every :class:`PresetBackbone` shares, tested once over all of them:
presets with a dict override, ``train()`` returning ``self``, ``norm_eval``.
Backbone-specific parts (which modules ``frozen_stages`` freezes, what an
override changes) stay in each backbone's own test file."""
import copy

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmpose_lite.models import LightHRNet, SlidePoseNet, StackedHourglass, XHRNet
from mmpose_lite.models.backbones.base import PresetBackbone

from ..conftest import n_params

#: (class, a small preset or override, input size)
CASES = {
    'LightHRNet': (LightHRNet, 's18', (64, 64)),
    'XHRNet': (XHRNet, 'p18', (64, 64)),
    'StackedHourglass': (StackedHourglass, dict(base='tiny', num_feats=16, stem_channels=(8, 16), depth=2),
                         (32, 32)),
    'SlidePoseNet': (SlidePoseNet, dict(base='light', depths=(1, 1, 1, 1)), (64, 64)),
}


def test_every_preset_backbone_is_covered():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    assert {c.__name__ for c in subclasses(PresetBackbone)} == set(CASES)


def _running_means(model):
    return [m.running_mean.clone() for m in model.modules() if isinstance(m, _BatchNorm)]


@pytest.mark.parametrize('name', sorted(CASES))
def test_norm_eval_and_train_returns_self(name):
    cls, arch, (h, w) = CASES[name]
    x = torch.randn(2, 3, h, w)
    frozen = cls(arch=arch, norm_eval=True)
    assert frozen.train() is frozen and frozen.eval() is frozen and frozen.train() is frozen
    bns = [m for m in frozen.modules() if isinstance(m, _BatchNorm)]
    assert bns and not any(m.training for m in bns)
    before = _running_means(frozen)
    frozen(x)
    assert all(torch.equal(a, b) for a, b in zip(_running_means(frozen), before))

    trained = cls(arch=arch).train()
    assert all(m.training for m in trained.modules() if isinstance(m, _BatchNorm))
    before = _running_means(trained)
    trained(x)
    assert not all(torch.equal(a, b) for a, b in zip(_running_means(trained), before))


@pytest.mark.parametrize('name', sorted(CASES))
def test_presets_resolve_whole_and_stay_untouched(name):
    cls, arch, _ = CASES[name]
    zoo = copy.deepcopy(cls.arch_zoo)
    preset = arch if isinstance(arch, str) else arch['base']
    model = cls(arch=preset)
    for key in model.arch:  # a model's spec is its own copy
        model.arch[key] = None
    assert cls.arch_zoo == zoo
    # the whole preset as a dict builds the same network
    assert n_params(cls(arch=copy.deepcopy(zoo[preset]))) == n_params(cls(arch=preset))
    assert cls.arch_zoo == zoo


@pytest.mark.parametrize('name', sorted(CASES))
def test_arch_errors_name_the_valid_choices(name):
    cls = CASES[name][0]
    presets = sorted(cls.arch_zoo)
    with pytest.raises(KeyError, match=r"unknown arch 'nope'; valid presets: " + repr(presets).replace('[', r'\[')):
        cls(arch='nope')
    with pytest.raises(KeyError, match=r"unknown arch keys \['nope'\]; valid keys"):
        cls(arch=dict(base=presets[0], nope=1))
    key, value = next(iter(cls.arch_zoo[presets[0]].items()))
    with pytest.raises(KeyError, match='misses'):  # a dict without base must give every key
        cls(arch={key: value})
    with pytest.raises(TypeError, match='preset name or a dict'):
        cls(arch=5)
