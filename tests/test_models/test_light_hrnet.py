"""LightHRNet / XHRNet: output shapes, equality with MMPose's LiteHRNet, the
channels-last default, parameter counts and argument errors. What every
backbone shares (training step, ``with_cp``, ``norm_eval``, ``frozen_stages``)
is tested in :mod:`.test_common_behaviour`."""
import pytest
import torch
from mmpose.models.backbones import LiteHRNet

from mmpose_lite.models import LightHRNet, XHRNet
from ..conftest import assert_same_outputs_and_grads, n_params, randomize_

PRESETS = sorted(LightHRNet.arch_zoo)
LITE_PRESETS = ['naive-18', 'wider-naive-18', '18', '30']
ALL_OUT = (0, 1, 2, 3)


def mmpose_extra(arch: str) -> dict:
    """MMPose ``LiteHRNet``'s ``extra`` for one of our Lite-HRNet presets."""
    spec = LightHRNet.arch_zoo[arch]
    module_type = 'LITE' if spec['block']['type'] == 'ConditionalChannelWeightingBlock' else 'NAIVE'
    return dict(
        stem=dict(spec['stem']), num_stages=3, with_head=spec['with_head'],
        stages_spec=dict(num_modules=spec['num_modules'], num_branches=spec['num_branches'],
                         num_blocks=spec['num_blocks'], module_type=(module_type, ) * 3, with_fuse=(True, ) * 3,
                         reduce_ratios=(8, 8, 8), num_channels=spec['num_channels']))


@pytest.mark.parametrize('arch', PRESETS)
def test_output_shapes_per_branch(arch):
    model = LightHRNet(arch=arch, out_indices=ALL_OUT).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 64, 96))
    width = LightHRNet.arch_zoo[arch]['num_channels'][-1]
    expected = [(2, width[max(i - 1, 0)], 16 // 2**i, 24 // 2**i) for i in ALL_OUT]
    assert [tuple(o.shape) for o in outs] == expected
    assert model.out_channels == [e[1] for e in expected]


@pytest.mark.parametrize('arch', LITE_PRESETS)
def test_lite_presets_equal_mmpose_litehrnet(arch):
    ours = LightHRNet(arch=arch).eval()
    ref = randomize_(LiteHRNet(mmpose_extra(arch)))
    ref.eval()  # MMPose's LiteHRNet.train() returns None, so eval() cannot be chained
    assert n_params(ours) == n_params(ref)
    # the model-zoo checkpoint layout loads strictly ...
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        (y_ref, ), (y, ) = ref(x), ours(x)
    # ... and gives the same outputs
    assert (y - y_ref).abs().max().item() <= 1e-5


@pytest.mark.parametrize('arch', ['18', 's18', 'p18'])
def test_channels_last_trains_like_nchw(arch):
    """``channels_last`` (the default) changes the memory format only: the
    weights stay channels-last through initialisation and checkpoint loading,
    and training gives the NCHW model's outputs and gradients (in float64,
    where other kernels' float sums differ by ~1e-12, not by the 1e-4 that
    train-mode BatchNorm on 2x2 maps amplifies float32 rounding to)."""
    nchw = randomize_(LightHRNet(arch=arch, out_indices=ALL_OUT, channels_last=False))
    cl = LightHRNet(arch=arch, out_indices=ALL_OUT)
    cl.init_weights()
    cl.load_state_dict(nchw.state_dict())
    assert cl.run_channels_last and not nchw.run_channels_last
    convs = [m.weight for m in cl.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert_same_outputs_and_grads(nchw.double(), cl.double(), torch.randn(2, 3, 64, 64, dtype=torch.float64))
    with pytest.raises(TypeError, match='channels_last must be a bool'):
        LightHRNet(arch=arch, channels_last='yes')


def test_no_input_size_cap_for_susa():
    """The authors' SUSA stops above 384x288; any size divisible by 32 works here."""
    model = XHRNet(arch='s18').eval()
    with torch.no_grad():
        for h, w in [(512, 384), (96, 160), (32, 32)]:
            assert model(torch.rand(1, 3, h, w))[0].shape == (1, 40, h // 4, w // 4)


def test_arch_dict_override():
    model = LightHRNet(arch=dict(base='s18', num_modules=(1, 1, 1), block=dict(type='ShuffleBlock',
                                                                                 pre=dict(type='HWSUSA'))))
    assert len(model.stage1) == 1 and model.arch['block']['pre']['type'] == 'HWSUSA'


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(arch=dict(base='18', num_modules=(2, 4))), ValueError, 'num_modules has 2'),
    (dict(arch=dict(base='18', num_channels=((40, 80), (40, 80, 160), (40, 80, 160)))), ValueError,
     'num_branches=4 but 3'),
    (dict(arch=dict(base='18', num_channels=((41, 80), (40, 80, 160), (40, 80, 160, 320)))), ValueError,
     'positive and even'),
    (dict(arch=dict(base='18', fuse_mode='avg')), ValueError, 'fuse_mode'),
    (dict(arch=dict(base='18', block=dict(type='Nope'))), KeyError, 'valid types'),
    (dict(frozen_stages=4), ValueError, 'frozen_stages'),
    (dict(out_indices=(4, )), ValueError, 'out_indices'),
])
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        LightHRNet(**kwargs)


def test_xhrnet_lists_its_presets_and_input_size_error():
    with pytest.raises(KeyError, match=r"valid presets: \['p18', 'p30', 's18', 's30'\]"):
        XHRNet(arch='18')
    with pytest.raises(ValueError, match='input size 100x64 must be divisible by 32'):
        XHRNet().eval()(torch.rand(1, 3, 100, 64))


def _susa_params(c, stripe):
    # stripe weights + depthwise 1x1 (w, b) + 1x1 (w, b) + LayerNorm (w, b)
    return stripe + 2 * c + c * c + c + 2 * c


def _unit_params(unit, c):
    if unit['type'] == 'SUSA':
        return _susa_params(c, 96 if unit['dim'] == 'h' else 72)
    assert unit['type'] == 'HWSUSA'
    return _susa_params(c // 2, 96) + _susa_params(c // 2, 72)


@pytest.mark.parametrize('arch', ['s18', 's30', 'p18', 'p30'])
def test_xhrnet_parameter_count_by_composition(arch):
    """X-HRNet = the naive skeleton with the same widths whose two pointwise
    conv-BN per shuffle block are replaced by SUSA units."""
    spec = LightHRNet.arch_zoo[arch]
    naive = LightHRNet(arch=dict(base=arch, block=dict(type='ShuffleBlock')))
    expected = n_params(naive)
    for stage, (modules, blocks, widths) in enumerate(zip(spec['num_modules'], spec['num_blocks'],
                                                          spec['num_channels'])):
        for c in widths:
            half = c // 2
            pointwise = half * half + 2 * half  # 1x1 conv without bias + BN
            susa = _unit_params(spec['block']['pre'], half) + _unit_params(spec['block']['post'], half)
            expected += modules * blocks * (susa - 2 * pointwise)
    assert n_params(LightHRNet(arch=arch)) == expected
