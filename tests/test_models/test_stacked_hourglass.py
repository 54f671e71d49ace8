"""StackedHourglass: shapes, parameter counts against the authors' network,
the recursion, the residual, the feedback between stacks, argument errors,
and the loss/predict path through MMPose's CPMHead. What every backbone
shares (training step, ``with_cp``, ``norm_eval``, ``frozen_stages``) is
tested in :mod:`.test_common_behaviour`."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpose.models.losses import KeypointMSELoss
from mmpose.registry import MODELS
from mmpose.testing import get_packed_inputs
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmpose_lite.models import StackedHourglass
from mmpose_lite.models.blocks import HourglassModule, PreActBottleneck
from ..conftest import REPO, n_params, randomize_

CONFIGS = REPO / 'configs/body_2d_keypoint/topdown_heatmap'
SYNTH_CONFIG = CONFIGS / 'synthetic/td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'
SMALL = dict(base='tiny', num_feats=16, stem_channels=(8, 16), depth=2)  # divisor 16


def residual_params(i, o):
    """The authors' Residual(i, o): three BN-ReLU-conv (with bias) and a 1x1 skip when i != o."""
    m = o // 2
    bn = 2 * (i + m + m)
    convs = (i * m + m) + (9 * m * m + m) + (m * o + o)
    return bn + convs + (0 if i == o else i * o + o)


def expected_params(spec, joints):
    f, nm, (c0, c1) = spec['num_feats'], spec['num_modules'], spec['stem_channels']
    r = residual_params(f, f)
    # 7x7 conv (no bias) + BN, three residuals
    stem = 3 * 49 * c0 + 2 * c0 + residual_params(c0, c1) + residual_params(c1, c1) + residual_params(c1, f)
    hourglass = spec['depth'] * 3 * nm * r + nm * r  # up1, low1, low3 per level; low2 innermost
    stack = hourglass + nm * r + (f * f + 2 * f) + (f * joints + joints)  # residuals, lin, prediction
    feedback = (f * f + f) + (joints * f + f)
    return stem + spec['num_stacks'] * stack + (spec['num_stacks'] - 1) * feedback


@pytest.mark.parametrize('stacks', [1, 2, 3])
def test_output_shapes(stacks):
    model = StackedHourglass(arch=dict(SMALL, num_stacks=stacks), num_joints=5).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 64, 48))
    assert isinstance(outs, tuple) and [tuple(o.shape) for o in outs] == [(2, 5, 16, 12)] * stacks
    assert model.out_channels == 5 and model.size_divisor == 16


@pytest.mark.parametrize('arch', sorted(StackedHourglass.arch_zoo))
def test_parameter_counts(arch):
    spec = StackedHourglass.arch_zoo[arch]
    model = StackedHourglass(arch=arch, num_joints=16, init_cfg=None)
    # (the authors' stem 7x7 conv and 1x1 "lin" convs also have a bias before their BN; ours do not)
    assert n_params(model) == expected_params(spec, 16)
    if arch == 'hg8':
        # Newell et al.'s 8-stack network on MPII: about 25.4M parameters
        assert abs(n_params(model) - 25.4e6) < 0.05e6


def test_norm_and_conv_cfg_reach_the_innermost_level():
    model = StackedHourglass(arch=dict(SMALL, depth=3), num_joints=3, norm_cfg=dict(type='GN', num_groups=4),
                             conv_cfg=dict(type='Conv2dAdaptivePadding'))
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    hg = model.hourglasses[1]
    innermost = hg.low2.low2
    assert isinstance(innermost, HourglassModule) and innermost.depth == 1
    residual = innermost.low2[0]
    assert isinstance(residual.conv2[0], nn.GroupNorm) and residual.conv2[0].num_groups == 4
    assert type(residual.conv2[2]).__name__ == 'Conv2dAdaptivePadding'
    assert type(model.feature_feedback[0]).__name__ == 'Conv2dAdaptivePadding'
    assert isinstance(model.stem[0].norm, nn.GroupNorm)
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 3, 64, 64))[-1].shape == (1, 3, 16, 16)


def test_hourglass_module_is_the_recursion():
    """up1(x) + nearest_upsample(low3(low2(low1(maxpool(x)))))."""
    hg = randomize_(HourglassModule(depth=2, channels=8)).eval()
    x = torch.randn(1, 8, 8, 8)
    with torch.no_grad():
        inner = hg.low2
        low = inner.up1(hg.low1(nn.functional.max_pool2d(x, 2)))
        low = low + inner.low3(inner.low2(inner.low1(nn.functional.max_pool2d(hg.low1(
            nn.functional.max_pool2d(x, 2)), 2)))).repeat_interleave(2, -1).repeat_interleave(2, -2)
        expected = hg.up1(x) + hg.low3(low).repeat_interleave(2, -1).repeat_interleave(2, -2)
        torch.testing.assert_close(hg(x), expected)


def test_preact_bottleneck_order_and_skip():
    block = randomize_(PreActBottleneck(8, 16)).eval()
    x = torch.randn(1, 8, 4, 4)
    relu = torch.relu
    with torch.no_grad():
        h = block.conv1[2](relu(block.conv1[0](x)))
        h = block.conv2[2](relu(block.conv2[0](h)))
        h = block.conv3[2](relu(block.conv3[0](h)))
        torch.testing.assert_close(block(x), h + block.skip(x))
    assert block.conv1[2].out_channels == 8 and block.conv2[2].kernel_size == (3, 3)
    assert isinstance(PreActBottleneck(16, 16).skip, nn.Identity)


def test_feedback_feeds_the_next_stack():
    model = randomize_(StackedHourglass(arch=SMALL, num_joints=3)).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        first, second = model(x)
        for conv in (*model.feature_feedback, *model.heatmap_feedback):
            conv.weight.zero_()
            conv.bias.zero_()
        first0, second0 = model(x)
    torch.testing.assert_close(first0, first)
    assert (second0 - second).abs().max() > 1e-3
    # and the loss on the last stack trains the feedback convolutions
    model = randomize_(StackedHourglass(arch=SMALL, num_joints=3)).train()
    model(x)[-1].square().sum().backward()
    for conv in (*model.feature_feedback, *model.heatmap_feedback):
        assert conv.weight.grad.abs().sum() > 0
    assert model.predictions[-1].weight.grad.abs().sum() > 0
    # no weight sharing between stacks
    ids = [id(p) for p in model.parameters()]
    assert len(ids) == len(set(ids)) and model.hourglasses[0] is not model.hourglasses[1]


def test_arch_dict_override():
    model = StackedHourglass(arch=dict(base='tiny', num_stacks=3))
    assert len(model.hourglasses) == 3 and len(model.feature_feedback) == 2


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(arch=dict(base='tiny', num_stacks=0)), ValueError, 'num_stacks must be an int >= 1'),
    (dict(arch=dict(base='tiny', depth=0)), ValueError, 'depth must be an int >= 1'),
    (dict(arch=dict(base='tiny', num_modules=1.5)), ValueError, 'num_modules must be an int >= 1'),
    (dict(arch=dict(base='tiny', num_feats=33)), ValueError, 'num_feats must be a positive even int'),
    (dict(arch=dict(base='tiny', stem_channels=(16, ))), ValueError, 'stem_channels must be two'),
    (dict(num_joints=0), ValueError, 'num_joints'),
    (dict(frozen_stages=3), ValueError, r'frozen_stages must be an int in \[-1, 2\]'),
])
def test_invalid_arguments(kwargs, error, match):
    kwargs.setdefault('arch', 'tiny')
    with pytest.raises(error, match=match):
        StackedHourglass(**kwargs)


def test_input_size_not_divisible_raises():
    model = StackedHourglass(arch='tiny').eval()
    with pytest.raises(ValueError, match=r'input size 100x64 must be divisible by 32 .*depth 3'):
        model(torch.rand(1, 3, 100, 64))
    with pytest.raises(ValueError, match='input size 64x48 must be divisible by 64'):
        StackedHourglass(arch=dict(base='tiny', depth=4))(torch.rand(1, 3, 64, 48))


# --- through MMPose's TopdownPoseEstimator and CPMHead -------------------------------------------------


def _estimator():
    cfg = Config.fromfile(str(SYNTH_CONFIG))
    model = MODELS.build(cfg.model)
    randomize_(model.backbone)
    codec = cfg.model.head.decoder
    packed = get_packed_inputs(batch_size=2, img_shape=(128, 96), input_size=(96, 128),
                               heatmap_size=codec['heatmap_size'], with_reg_label=False, with_simcc_label=False)
    return cfg, model, packed


def _capture_backbone(model, edit=None):
    """Make the backbone keep its outputs (and optionally edit them)."""
    forward, kept = model.backbone.forward, []

    def wrapped(x):
        outs = list(forward(x))
        if edit is not None:
            outs = edit(outs)
        for o in outs:
            if o.requires_grad:
                o.retain_grad()
        kept.append(outs)
        return tuple(outs)

    model.backbone.forward = wrapped
    return kept


def test_loss_has_a_term_for_every_stack():
    cfg, model, packed = _estimator()
    assert type(model.head).__name__ == 'CPMHead' and cfg.model.head.num_stages == model.backbone.num_stacks == 2
    kept = _capture_backbone(model)
    model.train()
    data = model.data_preprocessor(packed, training=True)
    losses = model(**data, mode='loss')
    outs = kept[-1]
    target = torch.stack([d.gt_fields.heatmaps for d in data['data_samples']])
    weights = torch.cat([d.gt_instance_labels.keypoint_weights for d in data['data_samples']])
    mse = KeypointMSELoss(use_target_weight=True)
    per_stack = [mse(o, target, weights) for o in outs]
    torch.testing.assert_close(losses['loss_kpt'], sum(per_stack))
    losses['loss_kpt'].backward()
    for i, o in enumerate(outs):
        assert o.grad is not None and o.grad.abs().sum() > 0, f'stack {i} gets no gradient from the loss'
    # the last stack's heatmaps reach the loss only through their own term; the first stack's
    # get their own term's gradient plus what flows back through the feedback into stack 2
    own = [o.detach().requires_grad_() for o in outs]
    for o in own:
        mse(o, target, weights).backward()
    torch.testing.assert_close(outs[-1].grad, own[-1].grad)
    assert (outs[0].grad - own[0].grad).abs().max() > 0


@pytest.mark.parametrize('flip_test', [True, False])
def test_predict_decodes_the_last_stack(flip_test):
    cfg, model, packed = _estimator()
    model.test_cfg['flip_test'] = flip_test
    model.eval()

    def predict(edit=None):
        forward = model.backbone.forward
        _capture_backbone(model, edit)
        with torch.no_grad():
            data = model.data_preprocessor(packed, training=False)
            results = model(**data, mode='predict')
        model.backbone.forward = forward
        return torch.as_tensor(np.stack([r.pred_instances.keypoints for r in results]))

    base = predict()
    g = torch.Generator().manual_seed(0)

    def noise(i):
        def edit(outs):
            outs[i] = torch.rand(outs[i].shape, generator=g) * 10
            return outs
        return edit

    torch.testing.assert_close(predict(noise(0)), base)
    assert not torch.allclose(predict(noise(-1)), base)
