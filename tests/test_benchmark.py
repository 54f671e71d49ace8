"""The side-by-side benchmark: model selection, AP join, one measured run with its files."""
import csv

import pytest

from mmpose_lite.benchmark import zoo
from mmpose_lite.benchmark.timing import format_table, peak_mib, time_ms

from .conftest import REPO

SYNTH = REPO / 'configs' / 'body_2d_keypoint' / 'topdown_heatmap' / 'synthetic'


def test_select_filters_and_keeps_the_reference():
    names = [e.name for e in zoo.select(['XHRNet-S18'])]
    assert names == ['XHRNet-S18', zoo.REFERENCE]
    assert [e.name for e in zoo.select(quick=True)] == list(zoo.QUICK)
    with pytest.raises(ValueError, match='valid names'):
        zoo.select(['no-such-model'])
    required = {'mmpose LiteHRNet-18', 'mmpose LiteHRNet-30', 'mmpose HRNet-W32', 'mmpose ResNet-50',
                'mmpose MobileNetV2', 'mmpose ShuffleNetV2', 'mmpose Hourglass52', 'mmpose RTMPose-t'}
    assert required <= {e.name for e in zoo.ENTRIES}


def test_model_zoo_ap_comes_from_mmpose_metafiles():
    ap = zoo.zoo_ap()
    assert ap['td-hm_litehrnet-18_8xb64-210e_coco-256x192.py'] == pytest.approx(0.642)
    for e in zoo.ENTRIES:
        if e.source == 'mmpose':
            assert e.config.split('/')[-1] in ap, e.name


def test_timing_and_memory_helpers():
    import torch
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
    rows = [dict(model=m, _calls={'eager': (lambda m=m: order.append(m))}) for m in 'ab']
    rows.append(dict(model='c', _calls={'eager': lambda: order.append('c'), 'ort': lambda: order.append('C')}))
    zoo.time_interleaved(rows, ['eager', 'ort'], repeats=5, block=2)
    assert ''.join(order) == 'aaabbbccc' * 2 + 'aabbcc' + 'CCC' * 2 + 'CC'
    assert all('_calls' not in r and r['eager_ms'] > 0 and '-' in r['eager_spread'] for r in rows)
    assert 'ort_ms' in rows[2] and 'ort_ms' not in rows[0]


@pytest.mark.timeout(600)
def test_run_writes_table_csv_and_plot(tmp_path):
    entries = [zoo.Entry('xhrnet-s18 demo', str(SYNTH / 'td-hm_xhrnet-s18_demo_synthcoco-128x96.py'), 'mmpose_lite',
                         paper_ap=0.5),
               zoo.Entry('hourglass demo', str(SYNTH / 'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'),
                         'mmpose_lite')]
    rows = zoo.run(entries, runtimes=('eager', 'ort'), repeats=2, batch=2, train_repeats=1, out_dir=str(tmp_path),
                   gpu=False, show_progress=False)
    assert [r['model'] for r in rows] == ['xhrnet-s18 demo', 'hourglass demo']
    for r in rows:
        assert not [e for e in r['errors'] if not e.startswith('ort: plain export')], r['errors']
        assert r['params'] > 0 and r['flops'] > 0 and r['eager_ms'] > 0 and r['ort_ms'] > 0
        assert r['throughput'] > 0 and r['peak_mib'] > 0 and r['train_step_ms'] > 0
    assert rows[0]['eager_layout'] == 'channels-last' and rows[0]['ap'] == 50.0
    assert rows[0]['ap_source'] == 'paper-reported' and rows[1]['ap'] is None
    with open(tmp_path / 'benchmark.csv') as f:
        assert [r['model'] for r in csv.DictReader(f)] == ['xhrnet-s18 demo', 'hourglass demo']
    assert '| xhrnet-s18 demo |' in (tmp_path / 'benchmark.md').read_text()
    assert (tmp_path / 'benchmark.png').stat().st_size > 1000


@pytest.mark.parametrize('runtime, conv', [('eager', 'aten::mkldnn_convolution'), ('ort', 'Conv')])
def test_profile_counts_operators_per_forward(runtime, conv):
    """tools/profile_model.py: per operator type, ms and calls per forward."""
    pytest.importorskip('onnxruntime')
    from mmpose_lite.benchmark.profile import op_times
    entry = zoo.Entry('hourglass demo', str(SYNTH / 'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'),
                      'mmpose_lite')
    times = op_times(entry, runtime, runs=2)
    calls = {op: c for op, (_, c) in times.items()}
    # the tiny hourglass has dozens of convolutions per forward, every forward the same
    convs = sum(c for op, c in calls.items() if op.startswith(conv) or op == 'aten::_slow_conv2d_forward')
    assert convs >= 20, calls
    assert all(t >= 0 for t, _ in times.values()) and sum(t for t, _ in times.values()) > 0
