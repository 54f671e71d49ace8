"""The synthetic PSA-neck config trains and evaluates through `mim train/test mmpose`."""
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
