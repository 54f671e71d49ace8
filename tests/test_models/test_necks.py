"""AttentionNeck and MultiResolutionFuseNeck, alone and on MMPose models."""
import os

import mmpose
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpose.registry import MODELS
from mmpose.testing import get_packed_inputs

from mmpose_lite.models import AttentionNeck, MultiResolutionFuseNeck
from mmpose_lite.models.units import PSA, CrossResolutionWeighting
from ..conftest import REPO

COCO = REPO / 'configs/body_2d_keypoint/topdown_heatmap/coco'


def _feats():
    return (torch.randn(2, 8, 16, 12), torch.randn(2, 16, 8, 6), torch.randn(2, 32, 4, 3))


def test_attention_neck_applies_the_unit_to_the_selected_outputs_only():
    xs = _feats()
    neck = AttentionNeck([8, 16, 32], unit=dict(type='PSA', layout='sequential'), indices=[0, -1]).eval()
    assert neck.indices == [0, 2] and all(isinstance(u, PSA) and u.layout == 'sequential' for u in neck.units)
    assert [u.channel.channels for u in neck.units] == [8, 32]
    ys = neck(xs)
    assert isinstance(ys, tuple) and [y.shape for y in ys] == [x.shape for x in xs]
    torch.testing.assert_close(ys[0], neck.units[0](xs[0]))
    torch.testing.assert_close(ys[2], neck.units[1](xs[2]))
    assert ys[1] is xs[1]
    assert not torch.allclose(ys[0], xs[0])
    # all outputs by default; a single tensor in gives a single tensor out
    assert len(AttentionNeck([8, 16, 32]).units) == 3
    single = AttentionNeck(16, unit=dict(type='SUSA', dim='h'))
    assert single(xs[1]).shape == xs[1].shape


def test_attention_neck_takes_a_cross_resolution_unit_and_host_norm_cfg():
    neck = AttentionNeck([8, 16, 32], unit=dict(type='CrossResolutionWeighting', ratio=4), indices=[1, 2],
                         norm_cfg=dict(type='GN', num_groups=2)).eval()
    (unit, ) = neck.units
    assert isinstance(unit, CrossResolutionWeighting) and unit.channels == [16, 32]
    assert any(isinstance(m, torch.nn.GroupNorm) for m in unit.modules())
    xs = _feats()
    ys = neck(xs)
    expected = unit([xs[1], xs[2]])
    assert ys[0] is xs[0]
    torch.testing.assert_close(ys[1], expected[0])
    torch.testing.assert_close(ys[2], expected[1])


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(in_channels=[8, 16], indices=2), ValueError, r'indices must be ints in \[-2, 2\) for 2 inputs'),
    (dict(in_channels=[8, 16], indices=[]), ValueError, 'indices must be ints'),
    (dict(in_channels=[], ), ValueError, 'in_channels must be a positive int'),
    (dict(in_channels=8, unit=dict(type='Nope')), KeyError, r"bad unit: unknown attention unit type 'Nope'.*PSA"),
])
def test_attention_neck_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        AttentionNeck(**kwargs)
    with pytest.raises(ValueError, match='built for 3 inputs, got 2'):
        AttentionNeck([8, 16, 32])(_feats()[:2])


def test_fuse_neck_is_upsample_concat_reduce():
    xs = _feats()
    cat = MultiResolutionFuseNeck([8, 16, 32])
    (y, ) = cat(xs)
    manual = torch.cat([xs[0]] + [F.interpolate(x, size=(16, 12), mode='bilinear', align_corners=False)
                                  for x in xs[1:]], 1)
    torch.testing.assert_close(y, manual)
    assert cat.out_channels == 56 and cat.reduce is None
    red = MultiResolutionFuseNeck([8, 16, 32], out_channels=24, upsample_mode='nearest',
                                  norm_cfg=dict(type='GN', num_groups=4)).eval()
    (y, ) = red(xs)
    assert y.shape == (2, 24, 16, 12) and red.out_channels == 24 and (y >= 0).all()
    assert isinstance(red.reduce.gn, torch.nn.GroupNorm)
    with pytest.raises(ValueError, match=r"unknown upsample_mode 'cubic'; valid modes: \['bilinear', 'nearest'\]"):
        MultiResolutionFuseNeck([8], upsample_mode='cubic')
    with pytest.raises(ValueError, match='out_channels must be a positive int or None'):
        MultiResolutionFuseNeck([8], out_channels=0)


def _loss_and_predict(model_cfg, size=(64, 64)):
    model = MODELS.build(model_cfg)
    packed = get_packed_inputs(batch_size=2, img_shape=size, input_size=size[::-1], heatmap_size=(16, 16),
                               with_reg_label=False, with_simcc_label=False)
    model.train()
    losses = model(**model.data_preprocessor(packed, training=True), mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(p.grad is not None for p in model.neck.parameters())
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, training=False), mode='predict')
    assert results[0].pred_instances.keypoints.shape == (1, 17, 2)
    return model


def test_fuse_neck_feeds_a_heatmap_head_on_psa_hrnet():
    """PSA-HRNet with all branches out -> MultiResolutionFuseNeck -> MMPose's
    HeatmapHead, as a config."""
    def stage(n, b, ch, **kw):
        return dict(num_modules=1, num_branches=n, block=b, num_blocks=(1, ) * n, num_channels=ch, **kw)
    extra = dict(stage1=stage(1, 'BOTTLENECK', (8, )), stage2=stage(2, 'BASIC', (8, 16)),
                 stage3=stage(3, 'BASIC', (8, 16, 16)), stage4=stage(4, 'BASIC', (8, 16, 16, 16),
                                                                     multiscale_output=True))
    codec = dict(type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=2)
    model = _loss_and_predict(dict(
        type='TopdownPoseEstimator',
        data_preprocessor=dict(type='PoseDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]),
        backbone=dict(type='AttentionHRNet', extra=extra, unit=dict(type='PSA', layout='sequential')),
        neck=dict(type='MultiResolutionFuseNeck', in_channels=[8, 16, 16, 16], out_channels=16),
        head=dict(type='HeatmapHead', in_channels=16, out_channels=17, deconv_out_channels=None,
                  loss=dict(type='KeypointMSELoss', use_target_weight=True), decoder=codec),
        test_cfg=dict(flip_test=False)))
    assert isinstance(model.neck, MultiResolutionFuseNeck)
    assert len(model.backbone(torch.randn(1, 3, 64, 64))) == 4


def test_mmpose_hrnet_w32_config_plus_neck_is_complete():
    """The one-line swap: MMPose's own config, a neck, custom_imports; the head is unchanged."""
    cfg = Config.fromfile(str(COCO / 'td-hm_hrnet-w32-psa-neck_8xb64-210e_coco-256x192.py'))
    mmpose_cfg = Config.fromfile(os.path.join(os.path.dirname(mmpose.__file__), '.mim', 'configs', 'body_2d_keypoint',
                                              'topdown_heatmap', 'coco', 'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'))
    assert cfg.model.backbone == mmpose_cfg.model.backbone and cfg.model.head == mmpose_cfg.model.head
    assert cfg.model.neck.type == 'AttentionNeck' and cfg.model.neck.in_channels == cfg.model.head.in_channels
    assert 'mmpose_lite' in cfg.custom_imports['imports']
    susa = Config.fromfile(str(COCO / 'td-hm_res50-susa-neck_8xb64-210e_coco-256x192.py'))
    assert susa.model.backbone.type == 'ResNet' and susa.model.neck.in_channels == susa.model.head.in_channels
