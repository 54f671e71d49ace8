"""The synthetic PSA-neck config trains and evaluates through `mim train/test mmpose`."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from mmpose_lite.datasets.synthetic import generate_synthetic_coco

from ..conftest import REPO

CONFIG = REPO / 'configs/body_2d_keypoint/topdown_heatmap/synthetic/td-hm_xhrnet-s18-psa-neck_demo_synthcoco-128x96.py'


def _mim():
    mim = os.path.join(os.path.dirname(sys.executable), 'mim')
    return mim if os.path.exists(mim) else shutil.which('mim')


@pytest.mark.timeout(600)
@pytest.mark.skipif(_mim() is None, reason='the mim command is not installed')
def test_mim_train_and_test_the_psa_neck_demo_config(tmp_path):
    # the config's data_root is relative ('data/synthetic_coco/'): run from tmp_path
    generate_synthetic_coco(str(tmp_path / 'data' / 'synthetic_coco'), num_train=4, num_val=4, seed=0)
    loader = ['num_workers=0', 'persistent_workers=False', 'batch_size=4']
    # one epoch, no validation before training (mim test evaluates below)
    opts = ['train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1',
            'custom_hooks=[]']
    opts += [f'{split}_dataloader.{o}' for split in ('train', 'val', 'test') for o in loader]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    work = tmp_path / 'work'
    train = subprocess.run([_mim(), 'train', 'mmpose', str(CONFIG), '--gpus', '0', '--work-dir', str(work),
                            '--cfg-options', *opts], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=500)
    out = train.stdout + train.stderr
    assert train.returncode == 0, out[-3000:]
    assert 'AttentionNeck' in out and "layout='parallel'" in out      # the model printed in the log
    assert re.search(r'Epoch\(train\) \[1\]\[(\d+)/\1\].*loss_kpt', out)    # a whole epoch of loss steps
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    test = subprocess.run([_mim(), 'test', 'mmpose', str(CONFIG), '--checkpoint', str(ckpt), '--gpus', '0',
                           '--work-dir', str(tmp_path / 'test'), '--cfg-options', *opts], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    out = test.stdout + test.stderr
    assert test.returncode == 0, out[-3000:]
    assert re.search(r'Epoch\(test\) \[\d+/\d+\] +coco/AP: [0-9.]+', out)
