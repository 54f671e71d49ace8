"""Single units (SUSA, HWSUSA, the channel weightings, PointwiseConv) against
their definitions, and the tensor ops they are built from. What every unit
shares (``x * attention`` of the documented shape and range, a loss step in
every host, registration) is tested in :mod:`.test_common_behaviour`."""
import pytest
import torch
import torch.nn.functional as F
from mmpose.models.backbones.utils import channel_shuffle
from mmpose.registry import MODELS

from mmpose_lite.models.ops import pool_to
from mmpose_lite.models.units import HWSUSA, SUSA, CrossResolutionWeighting, PointwiseConv, SpatialWeighting
from mmpose_lite.registry import build_unit
from ..conftest import randomize_

#: Standard deviation of the random weights of the units here.
STD = 0.5


def test_susa_matches_the_papers_equations():
    """H-wise SUSA written with the matrix product of the paper, stripe size = H."""
    unit = randomize_(SUSA(8, dim='h', stripe_size=12), std=STD).eval()
    x = torch.randn(2, 8, 12, 10)
    g = unit.stripe_weight.view(1, 1, 12, 1)
    q = F.conv2d((x * g).mean(2, keepdim=True), unit.mean_conv.conv.weight, unit.mean_conv.conv.bias, groups=8)
    q = q.transpose(2, 3).softmax(dim=2)                      # n,c,w,1: softmax along W
    ctx = torch.matmul(x, q)                                  # n,c,h,1
    t = F.conv2d(ctx, unit.conv.conv.weight, unit.conv.conv.bias)
    t = F.layer_norm(t.permute(0, 2, 3, 1), (8, ), unit.ln.weight, unit.ln.bias).permute(0, 3, 1, 2)
    torch.testing.assert_close(unit(x), x * t.sigmoid())
    # W-wise is the mirror: transposing H and W turns one into the other
    w_unit = SUSA(8, dim='w', stripe_size=12)
    w_unit.load_state_dict(unit.state_dict())
    torch.testing.assert_close(w_unit.eval()(x.transpose(2, 3)), unit(x).transpose(2, 3))


@pytest.mark.parametrize('size,length', [(96, 64), (96, 7), (72, 48), (7, 5), (5, 13), (96, 128)])
def test_susa_stripe_resampling_matches_torch_pooling_and_interpolation(size, length):
    """The constant resampling matrix (exportable) equals adaptive pooling / linear interpolation."""
    from mmpose_lite.models.units.susa import stripe_resampling
    g = torch.rand(1, 1, size)
    ref = F.adaptive_avg_pool1d(g, length) if length <= size else F.interpolate(
        g, size=length, mode='linear', align_corners=True)
    torch.testing.assert_close(stripe_resampling(size, length) @ g.view(-1), ref.view(-1))


def test_susa_stripe_resampling_any_size():
    """``stripe_mode='resample'`` (the default slices, as the authors do: tests/test_convert/test_xhrnet.py)."""
    unit = SUSA(4, dim='h', stripe_size=6, stripe_mode='resample')
    with torch.no_grad():
        unit.stripe_weight.copy_(torch.arange(6.))
    torch.testing.assert_close(unit.stripe(6), torch.arange(6.))             # unchanged at its size
    torch.testing.assert_close(unit.stripe(3), torch.tensor([0.5, 2.5, 4.5]))  # bin means
    torch.testing.assert_close(unit.stripe(11), torch.arange(11.) / 2)        # linear
    # every stripe weight learns, also from a smaller map
    unit(torch.randn(1, 4, 2, 3)).sum().backward()
    assert (unit.stripe_weight.grad != 0).all()


def test_cross_resolution_weighting():
    unit = randomize_(CrossResolutionWeighting([4, 8, 16], ratio=4, norm_cfg=dict(type='BN')), std=STD).eval()
    xs = [torch.randn(2, 4, 32, 24), torch.randn(2, 8, 16, 12), torch.randn(2, 16, 8, 6)]
    atts = unit.attention(xs)
    assert [tuple(a.shape) for a in atts] == [(2, 4, 8, 6), (2, 8, 8, 6), (2, 16, 8, 6)]
    assert all(a.min() > 0 and a.max() < 1 for a in atts)
    for x, a, y in zip(xs, atts, unit(xs)):
        torch.testing.assert_close(y, x * F.interpolate(a, size=x.shape[-2:], mode='nearest'))
    # fixed-kernel pooling is the adaptive pooling MMPose uses
    for x, size in [(xs[0], (8, 6)), (xs[1], (8, 6)), (torch.randn(1, 3, 9, 7), (3, 2))]:
        torch.testing.assert_close(pool_to(x, size), F.adaptive_avg_pool2d(x, size))


def test_hwsusa_is_shuffled_x_times_attention():
    unit = randomize_(HWSUSA(16), std=STD).eval()
    x = torch.randn(2, 16, 12, 10)
    a = unit.attention(x)
    assert tuple(a.shape) == tuple(x.shape) and a.min() > 0 and a.max() < 1
    torch.testing.assert_close(unit(x), channel_shuffle(x * a, 2))
    assert torch.allclose(a[:, :8, :, 0], a[:, :8, :, 5])   # H-wise half: constant along W
    assert torch.allclose(a[:, 8:, 0], a[:, 8:, 7])         # W-wise half: constant along H


def test_pointwise_conv_keeps_shape_and_mmpose_names():
    unit = PointwiseConv(8)
    assert unit(torch.randn(1, 8, 5, 5)).shape == (1, 8, 5, 5)
    assert set(unit.state_dict()) >= {'conv.weight', 'bn.weight', 'bn.running_mean'}


def test_units_are_buildable_by_config():
    unit = MODELS.build(dict(type='SUSA', channels=8, dim='w'))
    assert isinstance(unit, SUSA) and unit.dim == 'w'
    # host kwargs reach only the units that take them
    sw = build_unit(dict(type='SpatialWeighting'), 8, norm_cfg=dict(type='BN'), conv_cfg=None)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in sw.modules())
    crw = build_unit(dict(type='CrossResolutionWeighting', ratio=2), [4, 4], norm_cfg=dict(type='BN'))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in crw.modules())


@pytest.mark.parametrize('build, match', [
    (lambda: SUSA(8, dim='z'), "dim must be 'h' or 'w'"),
    (lambda: SUSA(8, stripe_size=1), 'stripe_size'),
    (lambda: SUSA(8, stripe_mode='interpolate'), r"stripe_mode must be one of \('slice', 'resample'\)"),
    (lambda: HWSUSA(7), 'even number of channels'),
    (lambda: SpatialWeighting(4, ratio=8), 'ratio=8'),
    (lambda: CrossResolutionWeighting(8), 'list of branch channels'),
    (lambda: build_unit(dict(type='NoSuchUnit'), 8), "valid types: \\['CrossResolutionWeighting'"),
    (lambda: build_unit(dict(dim='h'), 8), 'must be a dict with a "type" key'),
])
def test_invalid_unit_arguments(build, match):
    with pytest.raises((ValueError, KeyError, TypeError), match=match):
        build()


def _layouts(x):
    """``x`` as NCHW, channels-last, and a channel slice of a channels-last tensor."""
    wide = torch.zeros(x.shape[0], 2 * x.shape[1], *x.shape[2:]).contiguous(memory_format=torch.channels_last)
    wide[:, x.shape[1]:] = x
    return {'nchw': x, 'channels_last': x.contiguous(memory_format=torch.channels_last),
            'cl_slice': wide[:, x.shape[1]:]}


@pytest.mark.parametrize('layout', ['nchw', 'channels_last', 'cl_slice'])
@pytest.mark.parametrize('shape', [(2, 6, 5, 4), (1, 10, 3, 7)])
def test_concat_shuffle_is_cat_then_channel_shuffle(shape, layout):
    from mmpose_lite.models.ops import concat_shuffle
    a, b = torch.rand(shape), torch.rand(shape)
    out = concat_shuffle(_layouts(a)[layout], _layouts(b)[layout])
    assert torch.equal(out, channel_shuffle(torch.cat((a, b), 1), 2))
    if layout != 'nchw':  # the deploy form's channels-last layout is kept
        assert out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize('layout', ['nchw', 'channels_last', 'cl_slice'])
@pytest.mark.parametrize('size', [(8, 6), (16, 12), (7, 5), (4, 3)])
def test_mul_nearest_is_multiply_by_upsampled(size, layout):
    from mmpose_lite.models.ops import mul_nearest
    x, a = torch.rand(2, 3, 16, 12), torch.rand(2, 3, *size)
    ref = x * F.interpolate(a, size=(16, 12), mode='nearest')
    assert torch.equal(mul_nearest(_layouts(x)[layout], a), ref)


@pytest.mark.parametrize('mode, align', [('nearest', None), ('bilinear', True), ('bilinear', False)])
@pytest.mark.parametrize('size', [(16, 12), (32, 36), (7, 5), (20, 12)])
def test_resize_to_equals_interpolate_to_size(size, mode, align):
    from mmpose_lite.models.ops import resize_to
    a = torch.rand(2, 3, 8, 6)
    ref = F.interpolate(a, size=size, mode=mode, align_corners=align)
    assert torch.equal(resize_to(a, size, mode=mode, align_corners=align), ref)


def test_susa_deploy_keeps_its_mean_weights_per_length_and_dtype():
    unit = SUSA(8, dim='h', stripe_size=12).eval()
    unit.stripe_weight.data.uniform_(0.5, 1.5)
    assert unit.mean_weights(6) is not unit.mean_weights(6)  # trained form: recomputed (autograd sees it)
    unit.switch_to_deploy()
    g = unit.mean_weights(6)
    assert g is unit.mean_weights(6) and not g.requires_grad
    torch.testing.assert_close(g, unit.stripe(6) / 6)
    unit.double()
    assert unit.mean_weights(6).dtype == torch.float64  # a new entry, not the float32 one


@pytest.mark.parametrize('dim', ['h', 'w'])
def test_susa_is_layout_independent(dim, rng):
    """SUSA's channels-innermost path (channels-last x, as in the deploy form)
    computes what its NCHW path does, and the latter what the definition says."""
    unit = randomize_(SUSA(8, dim=dim, stripe_size=12), std=STD).eval()
    x = torch.randn(2, 8, 6, 5, generator=rng)
    # the definition, written out: stripe-weighted mean along `dim`, softmax along the other axis
    axis, other = (2, 3) if dim == 'h' else (3, 2)
    g = unit.stripe(x.shape[axis]).view([-1 if d == axis else 1 for d in range(4)])
    pooled = (x * g).mean(dim=axis, keepdim=True)
    q = unit.mean_conv(pooled).softmax(dim=other)
    context = (x * q).sum(dim=other, keepdim=True)
    a = unit.conv(context)
    a = unit.ln(a.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).sigmoid()
    with torch.no_grad():
        for layout, xi in _layouts(x).items():
            torch.testing.assert_close(unit(xi), x * a, msg=layout)
