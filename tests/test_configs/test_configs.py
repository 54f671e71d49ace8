"""Every shipped config builds (init_cfg=None) and runs a loss and a predict step."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpose.registry import MODELS
from mmpose.testing import get_packed_inputs

from ..conftest import REPO

CONFIGS = sorted(str(p.relative_to(REPO)) for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)


def test_configs_are_found():
    assert 'configs/xhrnet_coco.py' in CONFIGS and len(CONFIGS) >= 18


@pytest.mark.parametrize('config', CONFIGS)
def test_config_loss_and_predict_step(config):
    cfg = Config.fromfile(str(REPO / config))
    assert 'mmpose_lite' in cfg.custom_imports['imports']
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    codec = cfg.model.head.decoder
    w, h = codec['input_size']
    num_keypoints = cfg.model.head.get('out_channels', 17)  # 16 for MPII configs
    packed = get_packed_inputs(batch_size=2, num_keypoints=num_keypoints, img_shape=(h, w), input_size=(w, h),
                               heatmap_size=codec['heatmap_size'], with_reg_label=False,
                               with_simcc_label=False)
    model.train()
    data = model.data_preprocessor(packed, training=True)
    losses = model(**data, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(p.grad is not None for p in model.backbone.parameters() if p.requires_grad)

    model.eval()
    assert cfg.model.test_cfg.flip_test
    with torch.no_grad():
        data = model.data_preprocessor(packed, training=False)
        results = model(**data, mode='predict')
    assert len(results) == 2
    kpts = results[0].pred_instances.keypoints
    assert kpts.shape == (1, num_keypoints, 2) and torch.isfinite(torch.as_tensor(kpts)).all()


def test_short_name_is_the_xhrnet_coco_config():
    cfg = Config.fromfile(str(REPO / 'configs/xhrnet_coco.py'))
    assert cfg.model.backbone.type == 'XHRNet' and cfg.model.backbone.arch == 's18'
    assert cfg.val_evaluator.type == 'CocoMetric'
    assert cfg.runner_type == 'LiteRunner'  # checks the data files before training starts
    assert Path(cfg.val_dataloader.dataset.bbox_file).name == 'COCO_val2017_detections_AP_H_56_person.json'
