"""Strict loading for evaluation and inference (issue 12, section 1).

MMPose's ``init_model`` and ``MMPoseInferencer`` load with MMEngine's
``strict=False``, which only warns: our backbones and necks refuse weights
that do not cover them (keys and shapes named), unless the load is inside
``allow_partial_load()``; model-zoo-layout checkpoints still load strictly,
and ``init_cfg=dict(type='Pretrained', ...)`` keeps loading what fits.
"""
import threading

import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmpose_lite.models import AttentionNeck, AttentionResNet, XHRNet
from mmpose_lite.models.strict_load import StrictLoadMixin, allow_partial_load, partial_load_allowed
from mmpose_lite.utils.checkpoint import CheckpointMismatchError, describe_mismatch, load_weights
from ..conftest import REPO, TINY_RESNET, randomize_

SYNTH = REPO / 'configs/body_2d_keypoint/topdown_heatmap/synthetic'
XHRNET_CFG = SYNTH / 'td-hm_xhrnet-s18_demo_synthcoco-128x96.py'
HOURGLASS_CFG = SYNTH / 'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'
LIGHTHRNET_CFG = REPO / 'configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_lighthrnet-18_8xb64-210e_coco-256x192.py'
MMPOSE_LITEHRNET_CFG = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_litehrnet-18_8xb64-210e_coco-256x192.py'


def _model(cfg):
    from mmpose.apis import init_model
    return init_model(cfg if isinstance(cfg, Config) else Config.fromfile(str(cfg)), None, device='cpu')


def _save_zoo_layout(model, path):
    """A checkpoint as MMPose's model zoo ships them: ``state_dict`` + ``meta``."""
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'dataset_name': 'coco', 'num_keypoints': 17, 'sigmas': [0.1] * 17}}},
               path)
    return str(path)


def test_every_backbone_and_neck_of_ours_checks_what_it_loads():
    from mmpose.registry import MODELS
    ours = {name: cls for name, cls in MODELS.module_dict.items()
            if cls.__module__.startswith(('mmpose_lite.models.backbones', 'mmpose_lite.models.necks'))}
    assert {'XHRNet', 'LightHRNet', 'AttentionResNet', 'AttentionHRNet', 'StackedHourglass', 'SlidePoseNet',
            'AttentionNeck', 'MultiResolutionFuseNeck'} <= set(ours)
    for name, cls in ours.items():
        assert issubclass(cls, StrictLoadMixin), f'{name} does not refuse weights that do not fit'
        assert cls.__mro__.index(StrictLoadMixin) < cls.__mro__.index(nn.Module), name


def test_allow_partial_load_is_exported_from_the_package():
    """The error messages tell users to write ``mmpose_lite.allow_partial_load()``."""
    import mmpose_lite
    assert mmpose_lite.allow_partial_load is allow_partial_load


def test_checkpoint_of_another_backbone_fails_init_model_and_inferencer(tmp_path):
    from mmpose.apis import MMPoseInferencer, init_model
    other = _save_zoo_layout(_model(HOURGLASS_CFG), tmp_path / 'hourglass.pth')
    cfg = Config.fromfile(str(XHRNET_CFG))
    with pytest.raises(CheckpointMismatchError) as info:
        init_model(cfg, other, device='cpu')
    msg = str(info.value)
    assert "the weights being loaded do not fit XHRNet (keys 'backbone.*')" in msg
    assert 'missing in the checkpoint: backbone.' in msg and 'in all)' in msg  # a few, then the count
    assert 'not in the model: backbone.' in msg and 'another model' in msg
    assert 'allow_partial_load' in msg
    assert isinstance(info.value, RuntimeError)  # what torch's strict load raises: callers' handlers still work
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    with pytest.raises(CheckpointMismatchError, match='do not fit XHRNet'):
        MMPoseInferencer(pose2d=str(cfg_file), pose2d_weights=other, det_model='whole_image', device='cpu')
    # asked for explicitly, the partial load goes through (MMEngine's warning)
    with allow_partial_load():
        model = init_model(cfg, other, device='cpu')
    assert isinstance(model.backbone, XHRNet)
    assert not partial_load_allowed()


def test_bigger_preset_of_the_same_backbone_and_other_shapes_are_refused():
    small, big = XHRNet(arch='s18'), XHRNet(arch='s30')
    host = nn.ModuleDict({'backbone': small})
    state = {'backbone.' + k: v for k, v in big.state_dict().items()}
    # every key of s18 is in s30 with its shape: only the extra blocks tell them apart
    assert not describe_mismatch(small, state, prefix='backbone.').count('missing')
    with pytest.raises(CheckpointMismatchError, match=r"not in the model: backbone\."):
        host.load_state_dict(state, strict=False)
    narrow, wide = AttentionNeck(8, unit=dict(type='PSA')), AttentionNeck(16, unit=dict(type='PSA'))
    host = nn.ModuleDict({'neck': wide})
    before = {k: v.clone() for k, v in host.state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match=r'shape mismatch \(checkpoint vs model\): neck\.') as info:
        host.load_state_dict({'neck.' + k: v for k, v in randomize_(narrow).state_dict().items()})
    assert 'Same layers, other sizes' in str(info.value)
    # refused before anything was copied
    assert all(torch.equal(before[k], v) for k, v in host.state_dict().items())


def test_partial_load_is_explicit_and_scoped():
    from mmpose.models.backbones import ResNet
    ours = AttentionResNet(18, **TINY_RESNET)
    plain_state = randomize_(ResNet(18, **TINY_RESNET)).state_dict()
    # called on our module itself, torch's strict=False is honoured ...
    missing, unexpected = ours.load_state_dict(plain_state, strict=False)
    assert missing and all('.unit.' in k for k in missing) and not unexpected
    # ... inside a bigger model it cannot be told from MMEngine's strict=False: refused unless allowed
    host = nn.Sequential(ours)
    state = {'0.' + k: v for k, v in plain_state.items()}
    with pytest.raises(CheckpointMismatchError, match='missing in the checkpoint: 0.layer1.0.unit'):
        host.load_state_dict(state, strict=False)
    with allow_partial_load():
        assert partial_load_allowed()
        with allow_partial_load(False):  # re-enabled inside
            with pytest.raises(CheckpointMismatchError):
                host.load_state_dict(state, strict=False)
        host.load_state_dict(state, strict=False)
        seen = []
        thread = threading.Thread(target=lambda: seen.append(partial_load_allowed()))
        thread.start()
        thread.join()
        assert seen == [False]  # another thread is not affected
    assert not partial_load_allowed()
    torch.testing.assert_close(ours.conv1.weight, plain_state['conv1.weight'])


def test_mmpose_model_zoo_layout_loads_strictly(tmp_path):
    """A checkpoint in MMPose's model-zoo layout saved from MMPose's
    LiteHRNet-18 loads into its MMPose config and into our LightHRNet-18
    config, strictly and completely; ours too."""
    from mmengine.hub import get_config
    from mmpose.apis import init_model
    ref = randomize_(_model(get_config(MMPOSE_LITEHRNET_CFG)))
    zoo = _save_zoo_layout(ref, tmp_path / 'litehrnet18.pth')
    for cfg in (get_config(MMPOSE_LITEHRNET_CFG), Config.fromfile(str(LIGHTHRNET_CFG))):
        model = init_model(cfg, zoo, device='cpu')
        torch.testing.assert_close(model.state_dict(), ref.state_dict(), rtol=0, atol=0)
        assert model.dataset_meta['sigmas'] == [0.1] * 17
    assert type(model.backbone).__name__ == 'LightHRNet'
    assert load_weights(model, zoo) == dict(missing=[], unexpected=[])
    ours = _save_zoo_layout(randomize_(model), tmp_path / 'ours.pth')
    init_model(Config.fromfile(str(LIGHTHRNET_CFG)), ours, device='cpu')


def test_pretrained_init_cfg_still_loads_what_fits(tmp_path):
    from mmpose.models.backbones import ResNet
    full = randomize_(_model(XHRNET_CFG))
    ckpt = _save_zoo_layout(full, tmp_path / 'full.pth')
    backbone = XHRNet(arch='s18', init_cfg=dict(type='Pretrained', checkpoint=ckpt, prefix='backbone.'))
    backbone.init_weights()
    torch.testing.assert_close(backbone.state_dict(), {k[len('backbone.'):]: v for k, v in full.state_dict().items()
                                                       if k.startswith('backbone.')})
    # pretrained weights of MMPose's ResNet into PSA-ResNet: everything but the units
    plain = randomize_(ResNet(18, **TINY_RESNET))
    torch.save({'state_dict': plain.state_dict()}, tmp_path / 'resnet.pth')
    psa = AttentionResNet(18, **TINY_RESNET, init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'resnet.pth')))
    psa.init_weights()
    torch.testing.assert_close(psa.conv1.weight, plain.conv1.weight)
    assert not partial_load_allowed()


def test_load_weights_names_the_file_and_the_keys(tmp_path):
    model = AttentionResNet(18, **TINY_RESNET)
    from mmpose.models.backbones import ResNet
    path = tmp_path / 'resnet.pth'
    torch.save({'state_dict': randomize_(ResNet(18, **TINY_RESNET)).state_dict()}, path)
    with pytest.raises(CheckpointMismatchError) as info:
        load_weights(model, str(path))
    assert f'the checkpoint {path} does not fit AttentionResNet' in str(info.value)
    assert 'missing in the checkpoint: layer1.0.unit' in str(info.value)
    result = load_weights(model, str(path), strict=False)
    assert result['missing'] and all('.unit.' in k for k in result['missing']) and not result['unexpected']
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_weights(model, str(tmp_path / 'absent.pth'))
    (tmp_path / 'text.pth').write_text('not a checkpoint')
    with pytest.raises(CheckpointMismatchError, match='text.pth is not a PyTorch checkpoint'):
        load_weights(model, str(tmp_path / 'text.pth'))
