"""INT8 export (onnxruntime static QDQ quantization): the graph pass, the
per-unit fp32 choice, the export command and a bound a broken calibration
exceeds."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmpose_lite.deploy.onnx import main as export_main
from mmpose_lite.deploy.onnx import trace_to_onnx
from ..conftest import REPO

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')
pytest.importorskip('onnxruntime.quantization')

XHRNET_DEMO = str(REPO / 'configs' / 'body_2d_keypoint' / 'topdown_heatmap' / 'synthetic' /
                  'td-hm_xhrnet-s18_demo_synthcoco-128x96.py')


class _Upsampler(torch.nn.Module):
    """Nearest upsampling by 2, 4 and 8 and a bilinear one, as the HR skeleton's fuse layers trace."""

    def forward(self, x):
        small = x[..., ::8, ::8]
        return (x + F.interpolate(x[..., ::2, ::2], scale_factor=2, mode='nearest')
                + F.interpolate(x[..., ::4, ::4], scale_factor=4, mode='nearest')
                + F.interpolate(small, scale_factor=8, mode='nearest')
                + F.interpolate(small, scale_factor=8, mode='bilinear', align_corners=True))


def test_split_nearest_upsampling_keeps_values(tmp_path):
    """Nearest resizes by 4 and 8 become chains of resizes by 2 with the same
    output; the resize by 2 and the bilinear one are left alone."""
    from mmpose_lite.deploy.quantize import split_nearest_upsampling
    x = torch.randn(1, 3, 32, 24)
    path = str(tmp_path / 'up.onnx')
    trace_to_onnx(_Upsampler().eval(), x, path)
    model = onnx.load(path)
    before = sum(n.op_type == 'Resize' for n in model.graph.node)
    assert split_nearest_upsampling(model) == 2
    assert sum(n.op_type == 'Resize' for n in model.graph.node) == before - 2 + 2 + 3
    onnx.checker.check_model(model)
    feed = {'input': x.numpy()}
    ref = ort.InferenceSession(path, providers=['CPUExecutionProvider']).run(None, feed)[0]
    got = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider']).run(None, feed)[0]
    np.testing.assert_array_equal(got, ref)
    assert split_nearest_upsampling(model) == 0  # nothing left to split


def test_module_path_of_node():
    from mmpose_lite.deploy.quantize import module_path_of_node
    name = '/model/backbone/stage0/stage0.0/layers.1/layers.1.0/branch2/branch2.0/MatMul'
    assert module_path_of_node(name) == 'model.backbone.stage0.0.layers.1.0.branch2.0'
    assert module_path_of_node('/model/final_layer/Conv') == 'model.final_layer'
    assert module_path_of_node('Transpose_token_3') == ''


@pytest.fixture(scope='module')
def int8_export(tmp_path_factory):
    """X-HRNet-S18 (demo size, random weights) exported with ``--quantize
    int8``, calibrated on a folder of three smooth random images."""
    tmp = tmp_path_factory.mktemp('int8')
    rng = np.random.default_rng(0)
    (tmp / 'images').mkdir()
    for i in range(3):
        img = cv2.GaussianBlur((rng.random((160, 120, 3)) * 255).astype(np.uint8), (9, 9), 3)
        cv2.imwrite(str(tmp / 'images' / f'{i}.png'), img)
    out = tmp / 'xhrnet.onnx'
    with torch.random.fork_rng(devices=[]):  # module scope: set up before the per-test seeding, so seed here
        torch.manual_seed(0)
        assert export_main([XHRNET_DEMO, str(out), '--quantize', 'int8', '--calib-data', str(tmp / 'images'),
                            '--calib-images', '2']) == 0
    return tmp, out


def _inputs(tmp, model_cfg):
    from mmpose_lite.deploy.data import model_inputs, samples_from, val_pipeline
    from mmpose_lite.deploy.onnx import build_model_named
    model, _, cfg = build_model_named(model_cfg, deploy=True)
    return model, model_inputs(samples_from(str(tmp / 'images'), val_pipeline(cfg)), model, batch_size=1)


@pytest.mark.timeout(300)
def test_int8_model_beside_fp32_is_quantized_and_keeps_susa_fp32(int8_export):
    from mmpose_lite.deploy.quantize import int8_path
    tmp, out = int8_export
    path = int8_path(str(out))
    assert path == str(tmp / 'xhrnet_int8.onnx') and osp.isfile(path) and osp.isfile(out)
    assert not osp.exists(path + '.part')
    graph = onnx.load(path).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count('QuantizeLinear') > 50 and ops.count('DequantizeLinear') > 50
    int8_weights = [i for i in graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 4]
    assert len(int8_weights) >= 50, 'the convolution weights are not int8'
    producer = {o: n for n in graph.node for o in n.output}
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.op_type)
    susa = [n for n in graph.node if '/branch2/branch2.0/' in n.name and n.op_type in ('MatMul', 'Softmax')]
    assert susa, 'no SUSA node found by its scope'
    # SUSA stays fp32: the outputs of its products and softmax are never quantized (a quantized op's are)
    assert not [n.name for n in susa if 'QuantizeLinear' in consumers.get(n.output[0], [])]
    # the stages' convolutions read int8 weights; the iterative head's (kept fp32) read fp32 ones
    convs = [n for n in graph.node if n.op_type == 'Conv' and '/stage' in n.name]
    head = [n for n in graph.node if n.op_type == 'Conv' and '/head_layer/' in n.name]
    assert convs and all(n.input[1] in producer and producer[n.input[1]].op_type == 'DequantizeLinear'
                         for n in convs)
    assert head and not [n.name for n in head if n.input[1] in producer]


@pytest.mark.timeout(300)
def test_int8_model_runs_close_to_fp32_and_a_broken_calibration_does_not(int8_export, tmp_path):
    """Heatmap cosine to fp32 >= 0.99 on the calibration images (random
    weights measure ~0.999); calibrated on inputs scaled by 1e-3 (the
    mistake of skipping normalisation the wrong way) the same model measures
    ~0.89, under the bound."""
    from mmpose_lite.deploy.model import TensorForward
    from mmpose_lite.deploy.precision import heatmap_cosine
    from mmpose_lite.deploy.quantize import int8_path, int8_session, quantize_onnx
    tmp, out = int8_export
    model, inputs = _inputs(tmp, XHRNET_DEMO)
    fp32 = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    good = int8_session(int8_path(str(out)), threads=1)
    broken_path = quantize_onnx(str(out), str(tmp_path / 'broken.onnx'), [x * 1e-3 for x in inputs],
                                module=TensorForward(model))['path']
    broken = int8_session(broken_path, threads=1)
    for sess, ok in ((good, True), (broken, False)):
        cos = np.concatenate([heatmap_cosine(fp32.run(None, {'input': x}), sess.run(None, {'input': x}))
                              for x in inputs])
        assert np.isfinite(cos).all()
        assert (cos.min() >= 0.99) == ok, cos


def test_export_cli_refuses_bad_quantize_arguments(tmp_path, capsys):
    out = str(tmp_path / 'm.onnx')
    for args, words in (([out, '--quantize', 'int8', '--calib-images', '0'], 'at least 1'),
                        ([out, '--calib-data', str(tmp_path)], 'add --quantize int8'),
                        ([out, '--quantize', 'int8', '--dynamic-spatial'], 'fixed input size'),
                        ([out, '--quantize', 'int8', '--calib-data', str(tmp_path)], 'no image')):
        with pytest.raises(SystemExit) as e:
            export_main([XHRNET_DEMO] + args)
        assert e.value.code == 2
        assert words in capsys.readouterr().err
    assert not list(tmp_path.glob('*.onnx'))
