"""SlidePoseNet end to end: `mim train/test mmpose` on generated synthetic data, and the benchmark."""
import os
import shutil
import subprocess
import sys

import pytest
import torch

from mmpose_lite.benchmark.slide import slide_uncounted_flops, unfold_speed_table
from mmpose_lite.datasets.synthetic import generate_synthetic_coco
from mmpose_lite.models import SlidePoseNet

from .conftest import REPO

SYNTH_CONFIG = 'configs/body_2d_keypoint/topdown_heatmap/synthetic/td-hm_slide-light_demo_synthcoco-128x96.py'


def _mim():
    mim = os.path.join(os.path.dirname(sys.executable), 'mim')
    return mim if os.path.exists(mim) else shutil.which('mim')


@pytest.mark.timeout(600)
@pytest.mark.skipif(_mim() is None, reason='the mim command is not installed')
def test_mim_train_and_test_slide_on_synthetic_data(tmp_path):
    data = tmp_path / 'synth'
    generate_synthetic_coco(str(data), num_train=8, num_val=4, seed=0)
    ann = data / 'annotations'
    loader = 'batch_size=4 num_workers=0 persistent_workers=False'
    evaluation = [f'{split}_dataloader.{kv}' for split in ('val', 'test') for kv in loader.split()] + [
        f'{split}_dataloader.dataset.data_root={data}/' for split in ('val', 'test')] + [
        f'{split}_dataloader.dataset.bbox_file={ann}/person_detection_results_val.json' for split in ('val', 'test')
    ] + [f'{split}_evaluator.ann_file={ann}/person_keypoints_val.json' for split in ('val', 'test')]
    training = [f'train_dataloader.{kv}' for kv in loader.split()] + [
        f'train_dataloader.dataset.data_root={data}/', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1', 'randomness.seed=0',
        'custom_hooks=[]']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
    work = tmp_path / 'work'
    run = dict(cwd=REPO, env=env, capture_output=True, text=True, timeout=500)
    proc = subprocess.run([_mim(), 'train', 'mmpose', SYNTH_CONFIG, '--gpus', '0', '--work-dir', str(work),
                           '--cfg-options', *training, *evaluation], **run)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    checkpoint = work / 'epoch_1.pth'
    assert checkpoint.exists()
    state = torch.load(str(checkpoint), map_location='cpu', weights_only=False)['state_dict']
    assert any('deform_shift' in k for k in state) and not any('shift_kernel' in k for k in state)
    proc = subprocess.run([_mim(), 'test', 'mmpose', SYNTH_CONFIG, '--checkpoint', str(checkpoint), '--gpus', '0',
                           '--work-dir', str(tmp_path / 'test'), '--cfg-options', *evaluation], **run)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'coco/AP' in proc.stdout + proc.stderr
    assert "type='SlidePoseNet'" in (work / os.path.basename(SYNTH_CONFIG)).read_text()


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
