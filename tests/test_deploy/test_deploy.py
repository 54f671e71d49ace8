"""Deploy mode (exact rewrites) and ONNX export for every backbone family.

Each config's whole pose model (backbone, neck, head) is compared in eval mode
before and after :func:`switch_to_deploy`, with every BatchNorm given random
statistics first (folding an identity BatchNorm would prove nothing).
"""
import os.path as osp

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmpose_lite.deploy import switch_to_deploy
from mmpose_lite.deploy.model import TensorForward, build_pose_model
from ..conftest import REPO, randomize_

COCO = osp.join(REPO, 'configs', 'body_2d_keypoint', 'topdown_heatmap', 'coco')
SYNTH = osp.join(REPO, 'configs', 'body_2d_keypoint', 'topdown_heatmap', 'synthetic')

#: One config per backbone family and per block kind (small inputs where a demo config exists).
CONFIGS = {
    'lighthrnet-naive-18': osp.join(COCO, 'td-hm_lighthrnet-naive-18_8xb64-210e_coco-256x192.py'),
    'lighthrnet-18': osp.join(COCO, 'td-hm_lighthrnet-18_8xb64-210e_coco-256x192.py'),
    'xhrnet-s18': osp.join(SYNTH, 'td-hm_xhrnet-s18_demo_synthcoco-128x96.py'),
    'xhrnet-p18': osp.join(COCO, 'td-hm_xhrnet-p18_8xb64-210e_coco-256x192.py'),
    'xhrnet-s18-psa-neck': osp.join(SYNTH, 'td-hm_xhrnet-s18-psa-neck_demo_synthcoco-128x96.py'),
    'stacked-hourglass-tiny': osp.join(SYNTH, 'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'),
    'slide-light': osp.join(SYNTH, 'td-hm_slide-light_demo_synthcoco-128x96.py'),
    'res50-psa-p': osp.join(COCO, 'td-hm_res50-psa-p_8xb64-210e_coco-256x192.py'),
    'hrnet-w32-psa-s': osp.join(COCO, 'td-hm_hrnet-w32-psa-s_8xb64-210e_coco-256x192.py'),
    'lighthrnet-psa-18': osp.join(COCO, 'td-hm_lighthrnet-psa-18_8xb64-210e_coco-256x192.py'),
}


def _outputs(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_deploy_is_exact_and_folds_batchnorm(name, rng):
    model, (w, h), _ = build_pose_model(CONFIGS[name])
    # random statistics and affine parameters for every BatchNorm (scales near 1: deep outputs stay large)
    randomize_(model, std=0.1, only=_BatchNorm, norm_weight=(0.5, 1.5))
    n_bn = sum(isinstance(m, _BatchNorm) for m in model.modules())
    x = torch.randn(2, 3, h, w, generator=rng)
    module = TensorForward(model).eval()
    with torch.no_grad():
        ref = _outputs(module(x))
        switch_to_deploy(model)
        got = _outputs(module(x))
        again = _outputs(TensorForward(switch_to_deploy(model))(x))  # idempotent
    assert n_bn > 0, f'{name}: no BatchNorm to fold, the test would prove nothing'
    for r, g, a in zip(ref, got, again):
        assert r.shape == g.shape
        assert (r - g).abs().max().item() <= 1e-5 * max(1.0, r.abs().max().item()), name
        assert torch.equal(g, a)
    left = sum(isinstance(m, _BatchNorm) for m in model.backbone.modules())
    assert left < n_bn, f'{name}: deploy folded no BatchNorm of the backbone'
    assert all(getattr(m, 'deployed', False) for m in model.modules())


@pytest.mark.parametrize('name', ['lighthrnet-18', 'xhrnet-s18', 'xhrnet-s18-psa-neck', 'stacked-hourglass-tiny',
                                  'slide-light', 'res50-psa-p', 'hrnet-w32-psa-s'])
def test_onnx_export_matches_pytorch(name, tmp_path):
    pytest.importorskip('onnxruntime')
    from mmpose_lite.deploy.onnx import export_onnx
    out = tmp_path / f'{name}.onnx'
    res = export_onnx(CONFIGS[name], str(out), deploy=True, check=True, atol=1e-4)
    assert out.is_file() and not (tmp_path / f'{name}.onnx.part').exists()
    assert res['max_abs_diff'] <= 1e-4


def test_lite_hrnet_onnx_graph_has_no_adaptive_pooling(tmp_path):
    """The known MMPose failure: adaptive pooling to the smallest branch. Here
    the sizes divide, so the graph holds fixed-kernel average pools only."""
    onnx = pytest.importorskip('onnx')
    from mmpose_lite.deploy.onnx import export_onnx
    out = tmp_path / 'lhr18.onnx'
    export_onnx(CONFIGS['lighthrnet-18'], str(out), check=False)
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert 'AveragePool' in ops and 'ATen' not in ops, sorted(ops)


@pytest.mark.parametrize('name', ['lighthrnet-18', 'xhrnet-s18'])
def test_channels_last_deploy_form_traces_to_a_static_nchw_graph(name, tmp_path):
    """The deploy form runs channels-last, but its exported graph is traced in
    NCHW (no layout transposes for the runtime to undo; Lite-HRNet has none at
    all), its shapes are constants apart from the dynamic batch (no Shape
    nodes), and the model is channels-last again afterwards."""
    onnx = pytest.importorskip('onnx')
    from mmpose_lite.deploy.onnx import trace_to_onnx
    model, (w, h), _ = build_pose_model(CONFIGS[name])
    switch_to_deploy(model)
    assert model.backbone.run_channels_last
    module = TensorForward(model)
    out = tmp_path / f'{name}.onnx'
    trace_to_onnx(module, torch.randn(1, 3, h, w), str(out))
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert 'Shape' not in ops
    if name == 'lighthrnet-18':
        assert 'Transpose' not in ops
    convs = [m.weight for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(wt.is_contiguous(memory_format=torch.channels_last) for wt in convs)
    assert model.backbone.run_channels_last


def test_onnx_export_of_a_missing_config_names_it(tmp_path):
    from mmpose_lite.deploy.onnx import export_onnx
    with pytest.raises(FileNotFoundError, match='no_such.py'):
        export_onnx('configs/no_such.py', str(tmp_path / 'x.onnx'))
    assert not list(tmp_path.iterdir())
