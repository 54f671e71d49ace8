"""Stacked Hourglass end to end: MPII sample (PCKh) and `mim train/test mmpose` on synthetic data."""
import json
import math

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from scipy.io import savemat

from mmpose_lite.models import StackedHourglass
from .conftest import REPO, assert_trained_and_evaluated, mim_train_and_test, shared_data

CONFIGS = 'configs/body_2d_keypoint/topdown_heatmap/'
MPII_CONFIG = REPO / CONFIGS / 'mpii/td-hm_stacked-hourglass-2_8xb32-210e_mpii-256x256.py'
SYNTH_CONFIG = REPO / CONFIGS / 'synthetic/td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'


def _headboxes(ann_file, out_file):
    """MPII's ``mpii_gt_val.mat`` layout (``headboxes_src``: 2 x 2 x N) for a json
    that comes without one. The sample has no head boxes, so each is the
    square whose diagonal runs from the upper neck (joint 8) to the head top
    (joint 9): a stand-in, good enough for a smoke run of the PCKh metric."""
    boxes = []
    for ann in json.loads(ann_file.read_text()):
        neck, top = np.array(ann['joints'][8]), np.array(ann['joints'][9])
        side = np.linalg.norm(top - neck) / math.sqrt(2)
        center = (neck + top) / 2
        boxes.append([center - side / 2, center + side / 2])
    savemat(str(out_file), dict(headboxes_src=np.transpose(np.array(boxes), [1, 2, 0])))


@pytest.mark.timeout(600)
def test_mpii_sample_trains_and_evaluates_pckh(tmp_path):
    root = shared_data('mpii_sample')
    headbox = tmp_path / 'mpii_gt_sample.mat'
    _headboxes(root / 'test_mpii.json', headbox)
    cfg = Config.fromfile(str(MPII_CONFIG))
    # the MPII recipe as shipped (MpiiDataset, 256x256 codec, flip test, MpiiPCKAccuracy), with the
    # CPU-sized 2-stack preset instead of 256 features
    assert cfg.model.backbone.arch == 'hg2' and cfg.val_evaluator.type == 'MpiiPCKAccuracy'
    cfg.model.backbone.arch = 'tiny'
    cfg.work_dir = str(tmp_path / 'work')
    split = dict(data_root=str(root), ann_file='test_mpii.json', data_prefix=dict(img=''))
    cfg.train_dataloader.update(batch_size=5, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.update(split)
    cfg.val_dataloader.update(batch_size=5, num_workers=0, persistent_workers=False)
    cfg.val_dataloader.dataset.update(split, headbox_file=str(headbox))
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=2)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2, by_epoch=False)
    cfg.default_hooks.logger.interval = 1
    cfg.log_processor = dict(by_epoch=False)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    # MpiiPCKAccuracy normalizes by head_size (PCKh@0.5 is its 'PCK', PCKh@0.1 its 'PCK@0.1')
    assert {'PCK', 'PCK@0.1', 'Head PCK', 'Ankle PCK'} <= set(metrics)
    assert all(0 <= metrics[k] <= 100 for k in ('PCK', 'PCK@0.1'))
    assert (tmp_path / 'work' / 'iter_2.pth').exists()


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_mim_train_and_test_on_synthetic_data(tmp_path):
    """The demo config as shipped (its ValidateBeforeTrainHook included): a
    whole epoch, validations and test with coco/AP in [0, 1], and the
    checkpoint loads strictly into the config's StackedHourglass."""
    model = assert_trained_and_evaluated(mim_train_and_test(SYNTH_CONFIG, tmp_path))
    assert isinstance(model.backbone, StackedHourglass) and model.backbone.num_stacks == 2
