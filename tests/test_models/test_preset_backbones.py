"""What every :class:`PresetBackbone` shares, tested once over all of them:
presets with a dict override and the errors naming the valid choices.
Behaviour every backbone shares (training step, ``with_cp``, ``norm_eval``,
``frozen_stages``) is in :mod:`.test_common_behaviour`; what an override
changes stays in each backbone's own test file."""
import copy

import pytest

from mmpose_lite.models import LightHRNet, SlidePoseNet, StackedHourglass, XHRNet
from mmpose_lite.models.backbones.base import PresetBackbone
from ..conftest import all_subclasses, n_params

#: (class, a small preset)
CASES = {
    'LightHRNet': (LightHRNet, 's18'),
    'XHRNet': (XHRNet, 'p18'),
    'StackedHourglass': (StackedHourglass, 'tiny'),
    'SlidePoseNet': (SlidePoseNet, 'light'),
}


def test_every_preset_backbone_is_covered():
    assert {c.__name__ for c in all_subclasses(PresetBackbone)} == set(CASES)


@pytest.mark.parametrize('name', sorted(CASES))
def test_presets_resolve_whole_and_stay_untouched(name):
    cls, preset = CASES[name]
    zoo = copy.deepcopy(cls.arch_zoo)
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
