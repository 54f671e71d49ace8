"""The unit-swap configs train and evaluate through `mim train/test mmpose` on synthetic data."""
import re

import pytest

from ..conftest import REPO, mim_train_and_test

CONFIG = REPO / 'configs/body_2d_keypoint/topdown_heatmap/synthetic/td-hm_xhrnet-s18-psa-neck_demo_synthcoco-128x96.py'


@pytest.mark.timeout(600)
def test_mim_train_and_test_the_psa_neck_demo_config(tmp_path):
    _, train_out, test_out = mim_train_and_test(CONFIG, tmp_path, num_train=4, extra_train_opts=['custom_hooks=[]'])
    assert 'AttentionNeck' in train_out and "layout='parallel'" in train_out  # the model printed in the log
    assert re.search(r'Epoch\(train\) \[1\]\[(\d+)/\1\].*loss_kpt', train_out)  # a whole epoch of loss steps
    assert re.search(r'Epoch\(test\) \[\d+/\d+\] +coco/AP: [0-9.]+', test_out)


COCO = REPO / 'configs/body_2d_keypoint/topdown_heatmap/coco'


@pytest.mark.timeout(900)
@pytest.mark.parametrize('config, expect', [
    ('td-hm_hrnet-w32-psa-neck_8xb64-210e_coco-256x192.py', "type='AttentionNeck'"),
    ('td-hm_res50-susa-neck_8xb64-210e_coco-256x192.py', "type='HWSUSA'"),
    ('td-hm_lighthrnet-psa-18_8xb64-210e_coco-256x192.py', "type='PSA'"),
])
def test_mim_train_and_test_the_coco_swap_configs(config, expect, tmp_path):
    """The README's swaps (PSA on MMPose's HRNet-W32 by neck, SUSA on MMPose's
    ResNet-50 by neck, PSA inside the Lite-HRNet skeleton), at their COCO input
    size, a few iterations on generated data (no ImageNet weights: no network here)."""
    work, train_out, test_out = mim_train_and_test(COCO / config, tmp_path, num_train=4, num_val=2,
                                                   extra_train_opts=['custom_hooks=[]', 'model.backbone.init_cfg=None'])
    assert expect in (work / config).read_text()
    assert re.search(r'Epoch\(train\) \[1\]\[\d+/\d+\].*loss_kpt', train_out)
    assert re.search(r'coco/AP: [0-9.]+', test_out)
