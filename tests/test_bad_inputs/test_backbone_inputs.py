"""Inputs a backbone cannot take (a size not divisible by what it needs, the
wrong number of channels, no batch axis) stop with the expected and the given
shape and what to do, for every preset backbone."""
import pytest
import torch

from mmpose_lite.models import LightHRNet, SlidePoseNet, StackedHourglass, XHRNet
from mmpose_lite.models.backbones.base import InputShapeError, PresetBackbone

#: (class, a small arch, an input size it takes)
CASES = {
    'LightHRNet': (LightHRNet, 's18', (64, 64)),
    'XHRNet': (XHRNet, 'p18', (64, 64)),
    'StackedHourglass': (StackedHourglass, dict(base='tiny', num_feats=16, stem_channels=(8, 16), depth=2),
                         (32, 32)),
    'SlidePoseNet': (SlidePoseNet, dict(base='light', depths=(1, 1, 1, 1)), (64, 64)),
}


def _build(name, **kwargs):
    cls, arch, (h, w) = CASES[name]
    return cls(arch=arch, **kwargs).eval(), h, w


def test_every_preset_backbone_is_covered():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    assert {c.__name__ for c in subclasses(PresetBackbone)} == set(CASES)


@pytest.mark.parametrize('name', sorted(CASES))
def test_input_size_not_divisible(name):
    model, h, w = _build(name)
    d = model.size_divisor
    with pytest.raises(InputShapeError) as err:
        model(torch.randn(1, 3, h + d // 2, w))
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert f'{name}: input size {h + d // 2}x{w} must be divisible by {d} (' in msg
    assert f'got input shape (1, 3, {h + d // 2}, {w})' in msg
    assert f'Resize or pad the images to multiples of {d}, e.g. {h + d}x{w}' in msg
    assert f'codec input_size=({w}, {h + d})' in msg


@pytest.mark.parametrize('name', sorted(CASES))
def test_wrong_number_of_channels(name):
    model, h, w = _build(name)
    assert model.expected_in_channels == 3
    with pytest.raises(InputShapeError) as err:
        model(torch.randn(2, 1, h, w))
    msg = str(err.value)
    assert f'{name}: the input has 1 channels (shape (2, 1, {h}, {w})), but the backbone was built for ' \
           'in_channels=3' in msg
    assert "LoadImage(color_type='color')" in msg and 'build the backbone with in_channels=1' in msg
    # the fix the message gives works
    gray, _, _ = _build(name, in_channels=1)
    assert gray.expected_in_channels == 1
    with torch.no_grad():
        gray(torch.randn(1, 1, h, w))


@pytest.mark.parametrize('name', sorted(CASES))
def test_missing_batch_axis(name):
    model, h, w = _build(name)
    with pytest.raises(InputShapeError, match=rf'got a 3-D tensor of shape \(3, {h}, {w}\); for a single image '
                                              r'add the batch axis \(x\[None\]\)'):
        model(torch.randn(3, h, w))


def test_deployed_backbone_keeps_the_checks():
    from mmpose_lite.deploy import switch_to_deploy
    model, h, w = _build('XHRNet')
    switch_to_deploy(model)
    assert model.expected_in_channels == 3
    with pytest.raises(InputShapeError, match='the input has 4 channels'):
        model(torch.randn(1, 4, h, w))
