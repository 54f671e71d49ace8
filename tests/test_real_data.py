"""Smoke runs on real COCO images and annotations from ../shared/data."""
import math

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from .conftest import REPO, shared_data

DEMO_CONFIG = REPO / 'configs/body_2d_keypoint/topdown_heatmap/synthetic/td-hm_xhrnet-s18_demo_synthcoco-128x96.py'


def _config(tmp_path, train, val, evaluator_ann):
    cfg = Config.fromfile(str(DEMO_CONFIG))
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.update(batch_size=8, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.update(train)
    cfg.val_dataloader.update(batch_size=16, num_workers=0, persistent_workers=False)
    cfg.val_dataloader.dataset.update(val)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.val_evaluator.ann_file = evaluator_ann
    cfg.test_evaluator = cfg.val_evaluator
    cfg.param_scheduler = []
    cfg.custom_hooks = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, save_best=None)
    cfg.default_hooks.logger.interval = 1
    return cfg


def _train_and_evaluate(cfg, max_iters):
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
    cfg.default_hooks.checkpoint.by_epoch = False
    cfg.log_processor = dict(by_epoch=False)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert 'coco/AP' in metrics and math.isfinite(metrics['coco/AP']) and 0 <= metrics['coco/AP'] <= 1
    return metrics


@pytest.mark.timeout(600)
def test_coco_sample_with_real_detections(tmp_path):
    root = shared_data('coco_sample')
    ann = str(root / 'test_coco.json')
    cfg = _config(tmp_path, dict(data_root=str(root), ann_file='test_coco.json', data_prefix=dict(img='')),
                  dict(data_root=str(root), ann_file='test_coco.json', data_prefix=dict(img=''),
                       bbox_file=str(root / 'test_coco_det_AP_H_56.json')), ann)
    _train_and_evaluate(cfg, max_iters=3)


@pytest.mark.timeout(600)
def test_coco_mini_train2017(tmp_path):
    root = shared_data('coco_mini')
    split = dict(data_root=str(root), ann_file='annotations/person_keypoints_train2017.json',
                 data_prefix=dict(img='train2017/'))
    cfg = _config(tmp_path, split, dict(split, bbox_file=None),
                  str(root / 'annotations/person_keypoints_train2017.json'))
    _train_and_evaluate(cfg, max_iters=3)
