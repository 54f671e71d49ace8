"""The side-by-side benchmark: model selection, AP join, one measured run with its files, and the scoped
export workaround for MMPose's LiteHRNet."""
import csv

import pytest
import torch
import torch.nn.functional as F

from mmpose_lite.benchmark.cli import main, run
from mmpose_lite.benchmark.entries import ENTRIES, QUICK, REFERENCE, Entry, select, zoo_ap
from mmpose_lite.benchmark.export import WORKAROUND_NOTE, fixed_adaptive_pooling, ort_session, ort_session_for
from mmpose_lite.benchmark.latency import time_interleaved
from mmpose_lite.benchmark.measure import Measurement
from mmpose_lite.benchmark.report import add_speedups, columns
from mmpose_lite.benchmark.timing import format_table, peak_mib, time_ms
from mmpose_lite.deploy.onnx import trace_to_onnx
from .conftest import REPO

SYNTH = REPO / 'configs' / 'body_2d_keypoint' / 'topdown_heatmap' / 'synthetic'


def test_select_filters_and_keeps_the_reference():
    names = [e.name for e in select(['XHRNet-S18'])]
    assert names == ['XHRNet-S18', REFERENCE]
    assert [e.name for e in select(quick=True)] == list(QUICK)
    with pytest.raises(ValueError, match='valid names'):
        select(['no-such-model'])
    required = {'mmpose LiteHRNet-18', 'mmpose LiteHRNet-30', 'mmpose HRNet-W32', 'mmpose ResNet-50',
                'mmpose MobileNetV2', 'mmpose ShuffleNetV2', 'mmpose Hourglass52', 'mmpose RTMPose-t'}
    assert required <= {e.name for e in ENTRIES}


def test_models_are_exact_row_names_and_list_prints_them(capsys):
    """--models selects the rows it names and no other: a name that is only
    part of a row name (MMPose's 'LiteHRNet-18' vs our 'LightHRNet-18') is
    refused with the close names, not matched by substring; --list prints
    every row name (what --models takes) without measuring anything."""
    assert [e.name for e in select(['LightHRNet-18'])] == ['LightHRNet-18', REFERENCE]
    assert [e.name for e in select([REFERENCE])] == [REFERENCE]
    with pytest.raises(ValueError, match=r"--models \['LiteHRNet-18'\]: no such row \(did you mean") as e:
        select(['LiteHRNet-18'])
    assert "'mmpose LiteHRNet-18'" in str(e.value).split(';')[0] and "'LightHRNet-18'" in str(e.value).split(';')[0]
    with pytest.raises(ValueError, match='no such row'):
        select(['xhrnet-s18'])  # case matters too
    main(['--list'])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split('  ')[0].rstrip() for line in lines] == [e.name for e in ENTRIES]
    assert all(e.config in line for e, line in zip(ENTRIES, lines))


def test_model_zoo_ap_comes_from_mmpose_metafiles():
    ap = zoo_ap()
    assert ap['td-hm_litehrnet-18_8xb64-210e_coco-256x192.py'] == pytest.approx(0.642)
    for e in ENTRIES:
        if e.source == 'mmpose':
            assert e.config.split('/')[-1] in ap, e.name


def test_timing_and_memory_helpers():
    t = time_ms(lambda: sum(range(1000)), repeats=5, warmup=1)
    assert 0 < t['min'] <= t['p25'] <= t['median'] <= t['p75']
    x = torch.randn(64, 64)
    assert peak_mib(lambda: x @ x) >= 64 * 64 * 4 / 2**20 * 0.99  # at least the product it allocates
    table = format_table([dict(a=1.5, b=None, c=2_500_000)], ['a', 'b', 'c'])
    assert table.splitlines()[-1] == '| 1.50 | - | 2.500M |'


def test_latency_is_timed_in_turn():
    """Per runtime, round k calls every model in turn (1 untimed + block
    timed calls), so a slow spell hits all alike."""
    order = []
    measured = [Measurement(dict(model=m), {'eager': (lambda m=m: order.append(m))}) for m in 'ab']
    measured.append(Measurement(dict(model='c'), {'eager': lambda: order.append('c'),
                                                  'ort': lambda: order.append('C')}))
    time_interleaved(measured, ['eager', 'ort'], repeats=5, block=2)
    assert ''.join(order) == 'aaabbbccc' * 2 + 'aabbcc' + 'CCC' * 2 + 'CC'
    rows = [m.row for m in measured]
    assert all(r['eager_ms'] > 0 and '-' in r['eager_spread'] for r in rows)
    assert 'ort_ms' in rows[2] and 'ort_ms' not in rows[0]
    assert all(not m.calls for m in measured)  # the models and sessions are released once timed


@pytest.mark.timeout(600)
def test_run_writes_table_csv_and_plot(tmp_path):
    entries = [Entry('xhrnet-s18 demo', str(SYNTH / 'td-hm_xhrnet-s18_demo_synthcoco-128x96.py'), 'mmpose_lite',
                     paper_ap=0.5),
               Entry('hourglass demo', str(SYNTH / 'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'),
                     'mmpose_lite')]
    rows = run(entries, runtimes=('eager', 'ort'), repeats=2, batch=2, train_repeats=1, out_dir=str(tmp_path),
               gpu=False, show_progress=False)
    assert [r['model'] for r in rows] == ['xhrnet-s18 demo', 'hourglass demo']
    for r in rows:
        assert not [e for e in r['errors'] if not e.startswith('ort: plain export')], r['errors']
        assert r['params'] > 0 and r['flops'] > 0 and r['eager_ms'] > 0 and r['ort_ms'] > 0
        assert r['throughput'] > 0 and r['peak_mib'] > 0 and r['train_step_ms'] > 0
        # results are plain data: numbers, strings, None, the notes a list of strings
        assert all(v is None or isinstance(v, (int, float, str)) for k, v in r.items() if k != 'errors'), r
        assert all(isinstance(e, str) for e in r['errors'])
    assert rows[0]['eager_layout'] == 'channels-last' and rows[0]['ap'] == 50.0
    assert rows[0]['ap_source'] == 'paper-reported' and rows[1]['ap'] is None
    with open(tmp_path / 'benchmark.csv') as f:
        assert [r['model'] for r in csv.DictReader(f)] == ['xhrnet-s18 demo', 'hourglass demo']
    assert '| xhrnet-s18 demo |' in (tmp_path / 'benchmark.md').read_text()
    assert (tmp_path / 'benchmark.png').stat().st_size > 1000


def test_lower_precision_ratios():
    """``eager-bf16`` and ``ort-int8`` rows get three ratios: against the
    reference in the same runtime, against the reference's fp32 onnxruntime,
    and against the row's own fp32 runtime (eager, onnxruntime)."""
    rows = [dict(model=REFERENCE, eager_ms=60.0, ort_ms=20.0, **{'ort-int8_ms': 16.0, 'eager-bf16_ms': 50.0}),
            dict(model='ours', eager_ms=40.0, ort_ms=16.0, **{'ort-int8_ms': 8.0, 'eager-bf16_ms': 80.0}),
            dict(model='no int8', eager_ms=40.0, ort_ms=16.0)]
    add_speedups(rows, ['eager', 'ort', 'ort-int8', 'eager-bf16'])
    ours = rows[1]
    assert ours['ort-int8_speedup'] == 2.0 and ours['ort-int8_vs_ref_fp32'] == 2.5
    assert ours['ort-int8_vs_own_fp32'] == 2.0
    assert ours['eager-bf16_speedup'] == 50 / 80 and ours['eager-bf16_vs_ref_fp32'] == 20 / 80
    assert ours['eager-bf16_vs_own_fp32'] == 0.5 and ours['eager_speedup'] == 1.5
    assert rows[2]['ort-int8_vs_own_fp32'] is None and rows[2]['ort-int8_speedup'] is None
    keys, headers = columns(rows, ['ort', 'ort-int8', 'eager-bf16'], batch=0)
    assert f'ort-int8 vs {REFERENCE} ort (fp32)' in headers and 'eager-bf16 vs own eager (fp32)' in headers
    assert 'eager-bf16_layout' in keys


@pytest.mark.timeout(600)
def test_run_measures_int8_and_bf16():
    pytest.importorskip('onnxruntime.quantization')
    entries = [Entry('hourglass demo', str(SYNTH / 'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'),
                     'mmpose_lite')]
    rows = run(entries, runtimes=('ort', 'ort-int8', 'eager-bf16'), repeats=2, batch=0, gpu=False,
               show_progress=False)
    r = rows[0]
    assert not r['errors'], r['errors']
    assert r['ort-int8_ms'] > 0 and r['eager-bf16_ms'] > 0 and r['eager-bf16_layout'] == 'NCHW'
    assert r['ort-int8_vs_own_fp32'] == pytest.approx(r['ort_ms'] / r['ort-int8_ms'])


@pytest.mark.parametrize('runtime, conv', [('eager', 'aten::mkldnn_convolution'), ('ort', 'Conv'),
                                           ('ort-int8', 'QLinearConv'), ('eager-bf16', 'aten::mkldnn_convolution')])
def test_profile_counts_operators_per_forward(runtime, conv):
    """tools/profile_model.py: per operator type, ms and calls per forward."""
    pytest.importorskip('onnxruntime')
    from mmpose_lite.benchmark.profile import op_times
    entry = Entry('hourglass demo', str(SYNTH / 'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'),
                  'mmpose_lite')
    times = op_times(entry, runtime, runs=2)
    calls = {op: c for op, (_, c) in times.items()}
    # the tiny hourglass has dozens of convolutions per forward, every forward the same
    convs = sum(c for op, c in calls.items() if op.startswith(conv) or op == 'aten::_slow_conv2d_forward')
    assert convs >= 20, calls
    assert all(t >= 0 for t, _ in times.values()) and sum(t for t, _ in times.values()) > 0


ORIGINAL_POOL = F.adaptive_avg_pool2d


class _TracedSizePool(torch.nn.Module):
    """Adaptive pooling to a size read from a tensor's shape, as MMPose's
    LiteHRNet does (its plain ONNX export fails); records whether
    ``F.adaptive_avg_pool2d`` is torch's own at every call."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.seen = []

    def forward(self, x):
        self.seen.append(F.adaptive_avg_pool2d is ORIGINAL_POOL)
        y = self.conv(x)
        small = y[..., ::4, ::4]
        return y * F.interpolate(F.adaptive_avg_pool2d(y, small.shape[-2:]), size=y.shape[-2:])


def test_export_workaround_is_scoped(tmp_path):
    """The fixed-pooling export replaces nothing in torch: torch's own
    function is in place during and after the export, and outside the block
    (also after an error inside it) a plain export fails as before."""
    module, x = _TracedSizePool().eval(), torch.randn(1, 3, 16, 12)
    with pytest.raises(Exception, match='adaptive'):
        trace_to_onnx(module, x, str(tmp_path / 'plain.onnx'))
    sess = ort_session(module, x, threads=1, workaround=True)
    with torch.no_grad():
        expected = module(x).numpy()
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    assert abs(got - expected).max() < 1e-5
    assert module.seen and all(module.seen)
    assert F.adaptive_avg_pool2d is ORIGINAL_POOL
    with pytest.raises(KeyError):
        with fixed_adaptive_pooling():
            raise KeyError('inside')
    with pytest.raises(Exception, match='adaptive'):
        trace_to_onnx(module, x, str(tmp_path / 'after_error.onnx'))


def test_mmpose_litehrnet_exports_with_the_workaround():
    """MMPose's LiteHRNet (a tiny one: its cross-resolution weighting is what
    fails) gets an onnxruntime session with the same outputs, and a note."""
    from mmpose.models.backbones import LiteHRNet
    torch.manual_seed(0)
    extra = dict(stem=dict(stem_channels=8, out_channels=8, expand_ratio=1), num_stages=1,
                 stages_spec=dict(num_modules=(1, ), num_branches=(2, ), num_blocks=(1, ), module_type=('LITE', ),
                                  with_fuse=(True, ), reduce_ratios=(4, ), num_channels=((8, 16), )),
                 with_head=True)
    backbone, x = LiteHRNet(extra), torch.randn(1, 3, 64, 64)
    backbone.eval()  # (MMPose's LiteHRNet.train returns None)
    entry = Entry('mmpose tiny LiteHRNet', 'mmpose::unused.py', 'mmpose')
    sess, note = ort_session_for(entry, backbone, x, threads=1)
    assert note == WORKAROUND_NOTE
    with torch.no_grad():
        expected = backbone(x)[0].numpy()
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    assert got.shape == expected.shape and abs(got - expected).max() < 1e-4
    assert F.adaptive_avg_pool2d is ORIGINAL_POOL
