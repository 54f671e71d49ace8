"""X-HRNet against the authors' code (cool-xuan/x-hrnet): their checkpoints
convert and load strictly, and the converted model computes their outputs.

The references (``tests/data/xhrnet/``, see its README) were produced by the
authors' code itself with ``tools/fixtures/make_xhrnet_fixture.py``: a reduced
X-HRNet of each block type (sequential and parallel; every stage's
transitions, both SUSA directions), random weights and statistics, run at
256x192 and 384x288.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS
from torch import nn

from mmpose_lite.convert import ConversionError, convert_checkpoint, convert_state_dict, get_converter, read_state_dict
from mmpose_lite.convert.cli import main as cli_main
from mmpose_lite.convert.xhrnet import arch_from_authors_extra
from mmpose_lite.models import LightHRNet, XHRNet
from mmpose_lite.models.blocks import build_transition
from mmpose_lite.models.units import SUSA
from mmpose_lite.utils.checkpoint import CheckpointMismatchError
from ..conftest import REPO, mim_executable, synthetic_eval_options

DATA = REPO / 'tests' / 'data' / 'xhrnet'
SIZES = ((256, 192), (384, 288))
#: the largest difference allowed between our outputs and the authors'
TOL = 1e-4


def image(patch: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The fixture's input at h x w: its noise patch tiled and cropped (as the fixture script does)."""
    reps = (1, 1, -(-h // patch.shape[2]), -(-w // patch.shape[3]))
    return patch.repeat(*reps)[:, :, :h, :w].contiguous()


def fixture(block: str):
    """(checkpoint path, its meta, the reference outputs) of the reduced model of ``block`` ('s' or 'p')."""
    path = DATA / f'xhrnet_tiny_{block}.pth'
    meta = torch.load(path, map_location='cpu', weights_only=True)['meta']
    outputs = dict(np.load(DATA / f'xhrnet_tiny_{block}_outputs.npz'))
    return path, meta, {k: torch.from_numpy(v) for k, v in outputs.items()}


def pose_model(arch: dict, num_keypoints: int) -> nn.Module:
    """Our X-HRNet with MMPose 1.x's HeatmapHead as the authors' configs have it (one 1x1 conv)."""
    width = arch['num_channels'][-1][0]
    model = MODELS.build(dict(type='TopdownPoseEstimator', backbone=dict(type='XHRNet', arch=arch),
                              head=dict(type='HeatmapHead', in_channels=width, out_channels=num_keypoints,
                                        deconv_out_channels=None)))
    return model.eval()


def run(model: nn.Module, x: torch.Tensor):
    with torch.no_grad():
        feats = model.backbone(x)
        return feats[0], model.head.forward(feats)


@pytest.mark.parametrize('block', ['s', 'p'])
def test_converted_checkpoint_gives_the_authors_outputs(block):
    path, meta, ref = fixture(block)
    converted = convert_state_dict('xhrnet-authors', read_state_dict(str(path)))
    model = pose_model(arch_from_authors_extra(meta['extra']), meta['num_keypoints'])
    model.load_state_dict(converted, strict=True)  # every key, every shape
    for h, w in SIZES:
        y, heatmaps = run(model, image(ref['patch'], h, w))
        if f'backbone_{h}x{w}' in ref:
            assert (y - ref[f'backbone_{h}x{w}']).abs().max().item() <= TOL
        assert heatmaps.shape == ref[f'heatmaps_{h}x{w}'].shape
        assert (heatmaps - ref[f'heatmaps_{h}x{w}']).abs().max().item() <= TOL, (h, w)


def _resampling(block: dict) -> dict:
    """``block`` with every SUSA unit resampling its stripe weights instead of slicing them."""
    return {k: dict(v, stripe_mode='resample') if isinstance(v, dict) else v for k, v in block.items()}


@pytest.mark.parametrize('block', ['s', 'p'])
def test_fixture_sees_slicing_and_the_transitions(block):
    """The references tell the authors' rules from the alternatives: with the
    same weights, resampled stripe weights (our earlier rule) or a ReLU
    after the transitions (Lite-HRNet's) miss them by far more than TOL, at
    256x192 (stripes sliced in every branch) and at 384x288 (the first
    branch uses all 96x72 values, the others slices)."""
    path, meta, ref = fixture(block)
    converted = convert_state_dict('xhrnet-authors', read_state_dict(str(path)))
    arch = arch_from_authors_extra(meta['extra'])
    preset_block = XHRNet.arch_zoo[arch['base']]['block']
    variants = {'resample': dict(arch, block=_resampling(preset_block)), 'transition ReLU': dict(arch,
                                                                                                transition_relu=True)}
    for name, variant in variants.items():
        model = pose_model(variant, meta['num_keypoints'])
        model.load_state_dict(converted, strict=True)
        for h, w in SIZES:
            _, heatmaps = run(model, image(ref['patch'], h, w))
            assert (heatmaps - ref[f'heatmaps_{h}x{w}']).abs().max().item() > 10 * TOL, (name, h, w)


def test_susa_slices_up_to_the_stored_size_and_pads_beyond():
    unit = SUSA(4, dim='h', stripe_size=6)
    with torch.no_grad():
        unit.stripe_weight.copy_(torch.arange(6.) + 1)
    g = unit.stripe_weight.detach()
    torch.testing.assert_close(unit.stripe(4), g[:4])  # the authors' group_weight[:, :, :4]
    assert unit.stripe(6) is unit.stripe_weight
    torch.testing.assert_close(unit.stripe(9), torch.tensor([1., 2, 3, 4, 5, 6, 6, 6, 6]))  # edge padding
    # continuous in the length: each length's weighting is a prefix of every longer one's
    for length in range(1, 14):
        torch.testing.assert_close(unit.stripe(length + 1)[:length], unit.stripe(length))
    # as in the authors' code, only the rows a map has learn; beyond the size, the last weight learns
    unit(torch.randn(1, 4, 4, 3)).sum().backward()
    assert (unit.stripe_weight.grad[:4] != 0).all() and (unit.stripe_weight.grad[4:] == 0).all()
    unit.stripe_weight.grad = None
    unit(torch.randn(1, 4, 9, 3)).sum().backward()
    assert (unit.stripe_weight.grad != 0).all()


@pytest.mark.parametrize('dim', ['h', 'w'])
def test_susa_beyond_the_stored_size_runs_as_documented(dim):
    """Above 384x288 (the authors' code fails there) SUSA runs with the
    edge-padded weighting, the same in the trained and the deploy form."""
    unit = SUSA(8, dim=dim, stripe_size=6).eval()
    with torch.no_grad():
        unit.stripe_weight.uniform_(0.5, 1.5)
        for p in (unit.mean_conv.conv.weight, unit.conv.conv.weight):
            p.normal_(0, 1)
    x = torch.randn(2, 8, 10, 9)
    length = x.shape[2] if dim == 'h' else x.shape[3]
    padded = SUSA(8, dim=dim, stripe_size=length).eval()  # the same unit with the weighting written out
    state = dict(unit.state_dict())
    state['stripe_weight'] = torch.cat([state['stripe_weight'], state['stripe_weight'][-1:].expand(length - 6)])
    padded.load_state_dict(state)
    with torch.no_grad():
        expected = padded(x)
        torch.testing.assert_close(unit(x), expected)
        unit.switch_to_deploy()
        torch.testing.assert_close(unit(x), expected)
    model = XHRNet(arch=dict(base='s18', num_modules=(1, 1, 1))).eval()
    with torch.no_grad():
        assert torch.isfinite(model(torch.rand(1, 3, 448, 320))[0]).all()


def test_transition_relu_is_a_preset_key():
    """X-HRNet presets: no ReLU in any transition (the authors' code has none,
    neither at the end of a layer nor between the steps of a new branch's
    chain); Lite-HRNet presets: MMPose's ReLU after every step."""
    for arch in LightHRNet.arch_zoo:
        model = LightHRNet(arch=arch)
        transitions = [getattr(model, f'transition{i}') for i in range(model.num_stages)]
        relus = [isinstance(m, nn.ReLU) for t in transitions for m in t.modules()]
        steps = [s for t in transitions for layer in t if layer is not None
                 for s in (layer if isinstance(layer[0], nn.Sequential) else [layer])]
        if arch[0] in 'sp':
            assert not LightHRNet.arch_zoo[arch]['transition_relu'] and not any(relus), arch
        else:
            assert LightHRNet.arch_zoo[arch]['transition_relu'], arch
            assert steps and all(isinstance(s[-1], nn.ReLU) for s in steps), arch
    chain = build_transition([8], [8, 16, 32], relu=False)[2]  # a new branch two steps away
    assert len(chain) == 2 and not any(isinstance(m, nn.ReLU) for m in chain.modules())
    with pytest.raises(TypeError, match='transition_relu must be a bool'):
        LightHRNet(arch=dict(base='s18', transition_relu='no'))


# ------------------------------------------------------------------ the converter's rules and errors
def test_head_keys_map_as_mmpose_upgrades_them():
    """TopdownHeatmapSimpleHead with deconv and extra conv layers -> HeatmapHead:
    our map equals MMPose 1.x's own upgrade hook."""
    cfg = dict(in_channels=8, out_channels=3, deconv_out_channels=(6, ), deconv_kernel_sizes=(4, ),
               conv_out_channels=(5, ), conv_kernel_sizes=(1, ))
    torch.manual_seed(0)
    old = {  # MMPose 0.x layout: final_layer = conv, BN, ReLU, conv
        'deconv_layers.0.weight': torch.randn(8, 6, 4, 4),
        **{f'deconv_layers.1.{k}': torch.rand(6) for k in ('weight', 'bias', 'running_mean', 'running_var')},
        'final_layer.0.weight': torch.randn(5, 6, 1, 1), 'final_layer.0.bias': torch.randn(5),
        **{f'final_layer.1.{k}': torch.rand(5) for k in ('weight', 'bias', 'running_mean', 'running_var')},
        'final_layer.3.weight': torch.randn(3, 5, 1, 1), 'final_layer.3.bias': torch.randn(3)}
    backbone = read_state_dict(str(DATA / 'xhrnet_tiny_s.pth'))
    converted = convert_state_dict('xhrnet-authors', {**{k: v for k, v in backbone.items()
                                                         if k.startswith('backbone.')},
                                                      **{'keypoint_head.' + k: v for k, v in old.items()}})
    ours = HeatmapHead(**cfg)
    ours.load_state_dict({k[len('head.'):]: v for k, v in converted.items() if k.startswith('head.')}, strict=True)
    mmpose = HeatmapHead(**cfg)
    mmpose.load_state_dict(old, strict=False)  # the pre-hook renames the old keys
    for key, value in mmpose.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key


def test_stripe_weights_become_vectors():
    sd = read_state_dict(str(DATA / 'xhrnet_tiny_p.pth'))
    converted = convert_state_dict('xhrnet-authors', sd)
    h = 'backbone.stage0.0.layers.0.0.branch2.0.hconv.group_weight'
    assert tuple(sd[h].shape) == (1, 1, 96, 1) and tuple(sd[h.replace('hconv', 'wconv')].shape) == (1, 1, 1, 72)
    ours = 'backbone.stage0.0.layers.0.0.branch2.0.h_unit.stripe_weight'
    assert torch.equal(converted[ours], sd[h].flatten())
    assert converted[ours.replace('h_unit', 'w_unit')].shape == (72, )
    assert len(converted) == len(sd)
    assert not [k for k in converted if any(old in k for old in ('group_weight', 'hconv', 'wconv', 'stem.branch2'))]


@pytest.mark.parametrize('change, match', [
    (lambda sd: {**sd, 'neck.conv.weight': torch.zeros(1)}, 'unmapped keys .*neck.conv.weight'),
    (lambda sd: {k: v for k, v in sd.items() if 'group_weight' not in k}, 'no SUSA stripe weights'),
    (lambda sd: {k: v for k, v in sd.items() if not k.startswith('backbone.stem.')}, 'missing keys: backbone.stem'),
    (lambda sd: {**sd, 'backbone.stage0.0.layers.0.0.branch2.0.group_weight': torch.ones(1, 2, 72, 1)},
     r'group_weight: expected .* got \(1, 2, 72, 1\)'),
    (lambda sd: {**sd, 'keypoint_head.loss.weight': torch.zeros(1)}, 'keypoint_head.loss.weight: not a key'),
])
def test_conversion_errors_name_the_keys(change, match):
    sd = read_state_dict(str(DATA / 'xhrnet_tiny_s.pth'))
    with pytest.raises(ConversionError, match=match):
        convert_state_dict('xhrnet-authors', change(sd))


def test_unknown_source_lists_the_valid_ones(capsys):
    with pytest.raises(ConversionError, match='valid sources: .*xhrnet-authors'):
        get_converter('xhrnet')
    with pytest.raises(SystemExit) as exit_:
        cli_main(['--from', 'xhrnet', 'a.pth', 'b.pth'])
    assert exit_.value.code == 2 and "invalid choice: 'xhrnet'" in capsys.readouterr().err
    assert cli_main(['--list']) == 0 and 'xhrnet-authors' in capsys.readouterr().out


# ------------------------------------------------------------------ files, the CLI, mim test
TINY_CONFIG = """_base_ = [{base!r}]
model = dict(backbone=dict(_delete_=True, type='XHRNet', arch={arch!r}), head=dict(in_channels={width}))
"""
DEMO = REPO / 'configs' / 'body_2d_keypoint' / 'topdown_heatmap' / 'synthetic' / \
    'td-hm_xhrnet-s18_demo_synthcoco-128x96.py'


def tiny_config(tmp_path, meta) -> str:
    """The synthetic demo config (17 keypoints, 128x96) with the fixture's reduced backbone."""
    arch = arch_from_authors_extra(meta['extra'])
    path = tmp_path / 'tiny_xhrnet.py'
    path.write_text(TINY_CONFIG.format(base=str(DEMO), arch=arch, width=arch['num_channels'][-1][0]))
    return str(path)


def authors_checkpoint(tmp_path, block='s', num_keypoints=17) -> str:
    """The fixture checkpoint with a head of ``num_keypoints`` (as the demo config has)."""
    path, meta, _ = fixture(block)
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    width = meta['extra']['stages_spec']['num_channels'][-1][0]
    ckpt['state_dict']['keypoint_head.final_layer.weight'] = torch.randn(num_keypoints, width, 1, 1) * 0.1
    ckpt['state_dict']['keypoint_head.final_layer.bias'] = torch.zeros(num_keypoints)
    out = tmp_path / f'authors_{block}.pth'
    torch.save(ckpt, out)
    return str(out)


def test_cli_writes_a_checkpoint_that_fits_the_config(tmp_path, capsys):
    _, meta, _ = fixture('s')
    src, dst, cfg = authors_checkpoint(tmp_path), tmp_path / 'out' / 'converted.pth', tiny_config(tmp_path, meta)
    assert cli_main(['--from', 'xhrnet-authors', src, str(dst), '--config', cfg]) == 0
    assert 'converted' in capsys.readouterr().out
    written = torch.load(dst, map_location='cpu', weights_only=True)
    assert written['meta']['converter'] == 'xhrnet-authors'
    model = MODELS.build(Config.fromfile(cfg).model)
    model.load_state_dict(written['state_dict'], strict=True)
    # a config it does not fit: the error names the keys, nothing is written
    other = tmp_path / 'other.pth'
    assert cli_main(['--from', 'xhrnet-authors', src, str(other), '--config', str(DEMO)]) == 1
    assert 'shape mismatch' in capsys.readouterr().err and not other.exists()
    with pytest.raises(CheckpointMismatchError, match='does not fit'):
        convert_checkpoint('xhrnet-authors', src, str(other), config=str(DEMO))


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_mim_test_loads_the_converted_checkpoint(tmp_path):
    """``mim test mmpose CFG --checkpoint DST`` (strict loading) runs on the converted file."""
    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    mim = mim_executable()
    if mim is None:
        pytest.skip('the mim command is not installed')
    _, meta, _ = fixture('p')
    cfg, dst = tiny_config(tmp_path, meta), tmp_path / 'converted.pth'
    convert = subprocess.run([sys.executable, str(REPO / 'tools' / 'convert_checkpoint.py'), '--from',
                              'xhrnet-authors', authors_checkpoint(tmp_path, 'p'), str(dst), '--config', cfg],
                             capture_output=True, text=True, timeout=300)
    assert convert.returncode == 0, convert.stderr[-3000:]
    data = tmp_path / 'synth'
    generate_synthetic_coco(str(data), num_train=1, num_val=2, seed=0)
    test = subprocess.run([mim, 'test', 'mmpose', cfg, '--checkpoint', str(dst), '--gpus', '0', '--work-dir',
                           str(tmp_path / 'test'), '--cfg-options', *synthetic_eval_options(data)], cwd=REPO,
                          env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO)), capture_output=True,
                          text=True, timeout=500)
    assert test.returncode == 0, (test.stdout + test.stderr)[-3000:]
    (metrics, ) = (tmp_path / 'test').glob('*/*.json')
    assert 0 <= json.loads(metrics.read_text())['coco/AP'] <= 1
