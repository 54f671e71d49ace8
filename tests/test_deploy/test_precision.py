"""Lower precision against fp32: the metrics (against their equations), bf16
numerics of every attention unit, and the report's plumbing (MMPose's
evaluator fed by each precision, real images with GT boxes)."""
import numpy as np
import pytest
import torch

from mmpose_lite.deploy import switch_to_deploy
from mmpose_lite.deploy.precision import BF16Forward, heatmap_cosine, keypoint_displacement, predict_instances
from mmpose_lite.registry import UNITS
from ..conftest import REPO, randomize_, shared_data

XHRNET_DEMO = str(REPO / 'configs' / 'body_2d_keypoint' / 'topdown_heatmap' / 'synthetic' /
                  'td-hm_xhrnet-s18_demo_synthcoco-128x96.py')


def test_cosine_and_displacement_follow_their_equations(rng):
    a = torch.randn(3, 17, 8, 6, generator=rng).numpy()
    b = torch.randn(3, 17, 8, 6, generator=rng).numpy()
    expected = [float(np.dot(x.ravel(), y.ravel()) / np.linalg.norm(x) / np.linalg.norm(y)) for x, y in zip(a, b)]
    np.testing.assert_allclose(heatmap_cosine([a], [b]), expected, rtol=1e-6)
    np.testing.assert_allclose(heatmap_cosine([a, b], [3 * a, 3 * b]), 1.0, rtol=1e-9)
    np.testing.assert_allclose(heatmap_cosine([a], [-a]), -1.0, rtol=1e-9)
    k = np.zeros((2, 17, 2))
    np.testing.assert_allclose(keypoint_displacement(k, k + [3.0, 4.0]), 5.0)


def _gaussians(centres, size=(32, 24), sigma=2.0):
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2)) for cx, cy in centres])[None]


def test_decoded_keypoints_move_with_the_heatmaps():
    """The config's codec decodes Gaussians at known heatmap positions to
    input pixels (x4 at 96x128 input, 24x32 heatmaps); moving every
    Gaussian by one heatmap pixel moves every keypoint by 4 input pixels."""
    from mmpose_lite.deploy.model import build_pose_model
    model, _, _ = build_pose_model(XHRNET_DEMO)
    centres = [(5 + (i % 14), 6 + i) for i in range(17)]  # away from the borders
    heat = _gaussians(centres).astype(np.float32)
    moved = _gaussians([(cx + 1, cy) for cx, cy in centres]).astype(np.float32)
    (p, ), (q, ) = predict_instances(model, [heat]), predict_instances(model, [moved])
    np.testing.assert_allclose(p.keypoints[0], 4 * np.array(centres, float), atol=0.2)
    np.testing.assert_allclose(keypoint_displacement(p.keypoints, q.keypoints), 4.0, atol=0.2)


UNIT_CASES = [('SUSA', dict(dim='h')), ('SUSA', dict(dim='w')), ('HWSUSA', {}), ('PSA', dict(layout='parallel')),
              ('PSA', dict(layout='sequential')), ('SpatialWeighting', {}), ('SlideAttention', {}),
              ('GlobalSelfAttention', {})]


@pytest.mark.parametrize('name, kwargs', UNIT_CASES, ids=[f'{n}-{"-".join(map(str, k.values()))}'
                                                           for n, k in UNIT_CASES])
def test_units_stay_finite_and_close_in_bf16(name, kwargs, rng):
    """Every unit's deploy form under bf16 autocast: on unit-variance inputs
    within 5% of fp32 (bf16 keeps 8 bits of mantissa: ~0.4% per rounding);
    on inputs of magnitude ~100 (softmax logits in the thousands, LayerNorm
    over large values) still finite (there the rounding of huge logits can
    change which neighbour a softmax picks, so no closeness is claimed)."""
    unit = UNITS.get(name)(32, **kwargs)
    randomize_(unit, std=0.2)
    unit.eval()
    switch_to_deploy(unit)
    x = torch.randn(2, 32, 16, 12, generator=rng)
    with torch.no_grad():
        ref, got, big = unit(x), BF16Forward(unit)(x), BF16Forward(unit)(100 * x)
    assert got.dtype == torch.float32 and torch.isfinite(got).all() and torch.isfinite(big).all()
    assert (got - ref).abs().max() <= 0.05 * ref.abs().max(), name


def test_bf16_pose_model_is_close_to_fp32(rng):
    from mmpose_lite.deploy.model import TensorForward, build_pose_model
    model, (w, h), _ = build_pose_model(XHRNET_DEMO, deploy=True)
    module = TensorForward(model)
    x = torch.randn(2, 3, h, w, generator=rng)
    with torch.no_grad():
        ref, got = module(x).numpy(), BF16Forward(module)(x).numpy()
    assert np.isfinite(got).all()
    assert heatmap_cosine([ref], [got]).min() >= 0.999


@pytest.fixture(scope='module')
def synthetic_config(tmp_path_factory):
    """The X-HRNet demo config on two freshly generated synthetic val images."""
    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    tmp = tmp_path_factory.mktemp('precision')
    data = tmp / 'synth'
    generate_synthetic_coco(str(data), num_train=1, num_val=2, seed=0)
    cfg = tmp / 'demo_small.py'
    cfg.write_text(f"_base_ = ['{XHRNET_DEMO}']\n"
                   f"data_root = '{data}/'\n"
                   "val_dataloader = dict(dataset=dict(data_root=data_root, ann_file="
                   "'annotations/person_keypoints_val.json', data_prefix=dict(img='val/'), bbox_file=data_root + "
                   "'annotations/person_detection_results_val.json'))\n"
                   "test_dataloader = val_dataloader\n"
                   "val_evaluator = dict(ann_file=data_root + 'annotations/person_keypoints_val.json')\n")
    return str(cfg), data


@pytest.mark.timeout(300)
def test_report_feeds_each_precision_to_mmpose_evaluator(synthetic_config, capsys):
    """Every precision gets AP from the config's CocoMetric; onnxruntime fp32
    (the same function as eager fp32) gets the same AP and heatmap cosine 1:
    the comparison itself adds nothing. INT8 and bf16 stay finite and close
    (random weights; their flat heatmaps make keypoint displacements
    meaningless, which test_decoded_keypoints_move_with_the_heatmaps covers)."""
    from mmpose_lite.deploy.precision import PRECISIONS, report
    cfg, data = synthetic_config
    real = f"{data}/annotations/person_keypoints_val.json:{data}/val"
    out = report(cfg, None, real=[real], calib_images=2, batch_size=4)
    assert set(out['ap']) == set(PRECISIONS) and out['input_size'] == (96, 128)
    for metrics in out['ap'].values():
        assert 0 <= metrics['coco/AP'] <= 1
    assert out['ap']['ort-fp32']['coco/AP'] == pytest.approx(out['ap']['fp32']['coco/AP'], abs=1e-6)
    stats = out['real'][real]
    assert stats['fp32']['max_px'] == 0 and stats['fp32']['instances'] >= 2
    assert stats['fp32']['confident'] >= 0 and stats['fp32']['mean_px_confident'] in (None, 0.0)
    assert stats['ort-fp32']['cos_min'] >= 0.99999
    for p in ('bf16', 'int8'):
        assert stats[p]['finite'] and stats[p]['cos_min'] >= 0.99, (p, stats[p])
    printed = capsys.readouterr().out
    assert '| int8 |' in printed and 'AP drop vs fp32' in printed and 'mean px' in printed


@pytest.mark.timeout(300)
def test_bf16_on_real_photographs_with_gt_boxes():
    """coco_sample's persons (real photographs, GT boxes) through the
    config's val pipeline: bf16 heatmaps stay finite and aligned with fp32."""
    from mmpose_lite.deploy.data import samples_from, val_pipeline
    from mmpose_lite.deploy.model import TensorForward
    from mmpose_lite.deploy.onnx import build_model_named
    from mmpose_lite.deploy.precision import compare, runtimes
    ann = shared_data('coco_sample') / 'test_coco.json'
    model, size, cfg = build_model_named(XHRNET_DEMO, deploy=True)
    samples = samples_from(str(ann), val_pipeline(cfg), 6)
    run = runtimes(TensorForward(model), size, [], '/nonexistent', precisions=('fp32', 'bf16'))
    stats = compare(model, samples, run)
    assert stats['bf16']['instances'] == len(samples) == 6
    assert stats['bf16']['finite'] and stats['bf16']['cos_min'] >= 0.999
