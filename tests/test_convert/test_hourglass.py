"""``hourglass-authors``: a checkpoint of princeton-vl/pytorch_stacked_hourglass,
converted, makes our ``StackedHourglass`` (and the MMPose model with
``CPMHead``) compute the authors' outputs.

The reference outputs in ``tests/data/hourglass`` were computed by the
authors' code (``tools/fixtures/make_hourglass_fixture.py``; see the README
there): their ``PoseNet`` with 8 and 2 stacks of 8 features, 4 joints."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

from mmpose_lite.convert import ConversionError, convert_checkpoint, convert_state_dict
from mmpose_lite.models import StackedHourglass

DATA = Path(__file__).resolve().parents[1] / 'data' / 'hourglass'
FEATS, JOINTS = 8, 4


def _authors_state_dict():
    """The fixture's state dict, rebuilt from its flattened archive (see the README)."""
    z = np.load(DATA / 'posenet_state_dict.npz')
    values, offset, state = torch.from_numpy(z['values']), 0, {}
    for name, shape, dtype in zip(z['names'], z['shapes'], z['dtypes']):
        shape = [int(s) for s in shape if s >= 0]
        n = int(np.prod(shape)) if shape else 1
        state[str(name)] = values[offset:offset + n].reshape(shape).to(getattr(torch, str(dtype)))
        offset += n
    assert offset == values.numel()
    return state


@pytest.fixture(scope='module')
def ref():
    out = dict(np.load(DATA / 'posenet_outputs.npz'))
    state = _authors_state_dict()
    keys2 = {str(k) for k in out['keys_2stack']}
    return {8: (state, torch.from_numpy(out['output_8stack'])),
            2: ({k: v for k, v in state.items() if k in keys2}, torch.from_numpy(out['output_2stack'])),
            'input': torch.from_numpy(out['input'])}


def _ours(num_stacks):
    arch = dict(base='hg8', num_stacks=num_stacks, num_feats=FEATS)  # depth 4, stem 64/128: their PoseNet's
    return StackedHourglass(arch=arch, num_joints=JOINTS).eval()


@pytest.mark.parametrize('num_stacks', [2, 8])
def test_converted_backbone_gives_the_authors_outputs(ref, num_stacks):
    state, expected = ref[num_stacks]
    report = {}
    converted = convert_state_dict('hourglass-authors', state, prefix='', report=report)
    model = _ours(num_stacks)
    model.load_state_dict(converted, strict=True)
    x = ref['input'].permute(0, 3, 1, 2)  # theirs reads NHWC
    with torch.no_grad():
        y = torch.stack(model(x), 1)
    torch.testing.assert_close(y, expected, atol=1e-4, rtol=0)
    # the conv biases before their own BN: pre.0 and every stack's features.i.1
    assert report['folded_biases'] == ['pre.0.conv.bias'] + [f'features.{i}.1.conv.bias' for i in range(num_stacks)]
    assert report['folded_values'] == 64 + FEATS * num_stacks
    # unused skip_layers: pre.3 and, per stack, 13 hourglass residuals and the features residual
    assert len(report['dropped']) == 2 * (1 + 14 * num_stacks)
    # every other tensor is used: their count is ours
    assert len(state) - len(report['folded_biases']) - len(report['dropped']) == len(converted)


def test_folding_the_biases_matters(ref):
    """Dropping the biases instead of folding them changes the outputs."""
    state, expected = ref[2]
    model = _ours(2)
    model.load_state_dict(convert_state_dict('hourglass-authors', state, prefix=''))
    model.stem[0].bn.running_mean += state['model.module.pre.0.conv.bias']  # undo the fold of pre.0
    with torch.no_grad():
        y = torch.stack(model(ref['input'].permute(0, 3, 1, 2)), 1)
    assert (y - expected).abs().max() > 1e-2


def _config(tmp_path, num_stacks):
    cfg = f"""
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[0, 0, 0], std=[255, 255, 255], bgr_to_rgb=True),
    backbone=dict(type='StackedHourglass', arch=dict(base='hg8', num_stacks={num_stacks}, num_feats={FEATS}),
                  num_joints={JOINTS}),
    head=dict(type='CPMHead', in_channels={JOINTS}, out_channels={JOINTS}, num_stages={num_stacks},
              deconv_out_channels=None, final_layer=None, loss=dict(type='KeypointMSELoss', use_target_weight=True),
              decoder=dict(type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=2)))
"""
    path = tmp_path / f'hourglass_{num_stacks}.py'
    path.write_text(cfg)
    return str(path)


def test_full_model_from_their_checkpoint_file(ref, tmp_path):
    """Their checkpoint.pt layout -> a checked MMPose 1.x checkpoint -> the
    MMPose model, fed the 8-bit BGR image through its data preprocessor,
    gives their outputs for every stack."""
    state, expected = ref[8]
    src = tmp_path / 'checkpoint.pt'
    optimizer = {'state': {}, 'param_groups': [{'lr': 1e-3, 'params': [0, 1]}]}
    torch.save({'state_dict': state, 'optimizer': optimizer, 'epoch': 3}, src)
    config = _config(tmp_path, 8)
    dst = convert_checkpoint('hourglass-authors', str(src), str(tmp_path / 'ours.pth'), config=config)
    model = MODELS.build(Config.fromfile(config).model).eval()
    load_checkpoint(model, dst, map_location='cpu', strict=True)
    img_rgb = torch.round(ref['input'] * 255).to(torch.uint8)  # their input is the 8-bit RGB image / 255
    inputs = [img.permute(2, 0, 1).flip(0) for img in img_rgb]  # MMPose's input: CHW BGR uint8
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=inputs, data_samples=[PoseDataSample() for _ in inputs]))
        heatmaps = model(data['inputs'], data['data_samples'], mode='tensor')
    torch.testing.assert_close(torch.stack(heatmaps, 1), expected, atol=1e-4, rtol=0)


def test_a_config_of_another_size_is_refused(ref, tmp_path):
    from mmpose_lite.utils.checkpoint import CheckpointMismatchError
    src = tmp_path / 'checkpoint.pt'
    torch.save({'state_dict': ref[8][0]}, src)
    # a 2-stack model has no feedback after stack 1, nor stacks 2-7
    match = r'not in the model: backbone\.feature_feedback\.1\.bias.*1836 in all'
    with pytest.raises(CheckpointMismatchError, match=match):
        convert_checkpoint('hourglass-authors', str(src), str(tmp_path / 'ours.pth'), config=_config(tmp_path, 2))
    assert not (tmp_path / 'ours.pth').exists()


def test_bad_sources_are_named(ref):
    state = ref[2][0]
    with pytest.raises(ConversionError, match='no hgs'):
        convert_state_dict('hourglass-authors', {'conv1.weight': torch.zeros(1)})
    with pytest.raises(ConversionError, match="unexpected key 'heads.0.weight'"):
        convert_state_dict('hourglass-authors', {**state, 'model.module.heads.0.weight': torch.zeros(1)})
    wide = dict(state)
    key = next(k for k in state if re.search(r'hgs\.0\.0\.low1\.conv3\.conv\.weight$', k))
    wide[key] = torch.zeros(FEATS + 4, FEATS // 2, 1, 1)
    with pytest.raises(ConversionError, match='increase=4'):
        convert_state_dict('hourglass-authors', wide)
