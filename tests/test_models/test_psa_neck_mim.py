"""The unit-swap configs train and evaluate through `mim train/test mmpose` on synthetic data."""
import pytest

from mmpose_lite.models import AttentionNeck
from mmpose_lite.models.units import HWSUSA, PSA
from ..conftest import REPO, assert_trained_and_evaluated, mim_train_and_test

SYNTH = REPO / 'configs/body_2d_keypoint/topdown_heatmap/synthetic'
COCO = REPO / 'configs/body_2d_keypoint/topdown_heatmap/coco'


def _neck_of(unit):
    def swapped(model):
        neck = getattr(model, 'neck', None)
        return isinstance(neck, AttentionNeck) and len(neck.units) > 0 and all(isinstance(u, unit) for u in neck.units)
    return swapped


def _psa_in_backbone(model):
    return getattr(model, 'neck', None) is None and any(isinstance(m, PSA) for m in model.backbone.modules())


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_mim_train_and_test_the_psa_neck_demo_config(tmp_path):
    """A whole epoch of loss steps, validation and test with coco/AP in [0, 1],
    and the checkpoint loads strictly into the config's model (a PSA neck)."""
    run = mim_train_and_test(SYNTH / 'td-hm_xhrnet-s18-psa-neck_demo_synthcoco-128x96.py', tmp_path, num_train=4,
                             extra_train_opts=['custom_hooks=[]'])
    model = assert_trained_and_evaluated(run)
    assert _neck_of(PSA)(model) and {u.layout for u in model.neck.units} == {'parallel'}


@pytest.mark.integration
@pytest.mark.timeout(900)
@pytest.mark.parametrize('config, swapped', [
    ('td-hm_hrnet-w32-psa-neck_8xb64-210e_coco-256x192.py', _neck_of(PSA)),
    ('td-hm_res50-susa-neck_8xb64-210e_coco-256x192.py', _neck_of(HWSUSA)),
    ('td-hm_lighthrnet-psa-18_8xb64-210e_coco-256x192.py', _psa_in_backbone),
], ids=['hrnet-w32-psa-neck', 'res50-susa-neck', 'lighthrnet-psa-18'])
def test_mim_train_and_test_the_coco_swap_configs(config, swapped, tmp_path):
    """The README's swaps (PSA on MMPose's HRNet-W32 by neck, SUSA on MMPose's
    ResNet-50 by neck, PSA inside the Lite-HRNet skeleton), at their COCO input
    size, a few iterations on generated data (no ImageNet weights: no network
    here): trained, evaluated, and the checkpoint is the swapped model's."""
    run = mim_train_and_test(COCO / config, tmp_path, num_train=4, num_val=2,
                             extra_train_opts=['custom_hooks=[]', 'model.backbone.init_cfg=None'])
    assert swapped(assert_trained_and_evaluated(run))
