"""SlidePoseNet end to end: `mim train/test mmpose` on generated synthetic data, and the benchmark."""
import pytest
import torch

from mmpose_lite.benchmark.slide import slide_uncounted_flops, unfold_speed_table
from mmpose_lite.models import SlidePoseNet
from .conftest import REPO, assert_trained_and_evaluated, mim_train_and_test

SYNTH_CONFIG = REPO / 'configs/body_2d_keypoint/topdown_heatmap/synthetic/td-hm_slide-light_demo_synthcoco-128x96.py'


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_mim_train_and_test_slide_on_synthetic_data(tmp_path):
    """A whole epoch, validation and test with coco/AP in [0, 1]; the
    checkpoint holds the learnable shifts (not the fixed one-hot kernel) and
    loads strictly into the config's SlidePoseNet."""
    run = mim_train_and_test(SYNTH_CONFIG, tmp_path, extra_train_opts=['custom_hooks=[]'])
    model = assert_trained_and_evaluated(run)
    assert isinstance(model.backbone, SlidePoseNet)
    state = model.backbone.state_dict()
    assert any('deform_shift' in k for k in state) and not any('shift_kernel' in k for k in state)


def test_benchmark_rows_compare_equal_outputs():
    rows = unfold_speed_table(channels=(16, ), batches=(1, ), size=(15, 11), repeats=2)
    (row, ) = rows
    assert row['max_abs_diff'] <= 1e-5 and row['fast_ms'] > 0 and row['unfold_ms'] > 0
    assert row['ratio'] == pytest.approx(row['unfold_ms'] / row['fast_ms'])


def test_uncounted_slide_flops():
    model = SlidePoseNet(arch=dict(base='light', depths=(1, 2, 0, 0))).eval()
    # 3 slide units: 1 at 1/4 (32 ch), 2 at 1/8 (64 ch); 2 * C * 9 * H * W each
    expected = 2 * 9 * (32 * 16 * 8 + 2 * 64 * 8 * 4)
    assert slide_uncounted_flops(model, torch.rand(1, 3, 64, 32)) == expected
    assert slide_uncounted_flops(model, torch.rand(2, 3, 64, 32)) == 2 * expected
