"""Side-by-side benchmark of this package's models and MMPose model-zoo models.

Every model is built from a config (ours from ``configs/``, MMPose's from its
installed configs, ``mmpose::...``) and measured in one process, on the same
random input, with the same number of threads:

* parameters and FLOPs: one counter for all, ``mmengine.analysis`` (it traces
  the model and counts multiply-accumulates of convolutions, linear layers,
  matrix products and einsums; element-wise ops are not counted);
* CPU latency at batch 1 (median after warm-up, with the p25-p75 spread;
  the models are timed in turn, a few calls each per round, see
  :func:`time_interleaved`) in
  each runtime asked for: PyTorch eager, ``torch.compile``, onnxruntime;
* CPU throughput at batch 32 (eager) and the peak memory of that batch;
* the same on CUDA when a GPU is present (batch 1 latency, batch 64
  throughput with channels-last and AMP, peak memory).

Our models run in their deploy form (:func:`mmpose_lite.deploy.switch_to_deploy`,
exact rewrites); MMPose's run as MMPose ships them (eval mode). The COCO AP
of each model-zoo model comes from MMPose's installed metafiles; for ours the
AP the paper reports, labelled as such (none of ours was trained on COCO here).

``python tools/benchmark.py`` (or ``mmpose-lite-benchmark``) is the command.
"""
import argparse
import contextlib
import csv
import glob
import os
import os.path as osp
import platform
import tempfile
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch

from mmpose_lite.deploy.onnx import trace_to_onnx
from .timing import format_table, peak_mib, time_ms

__all__ = ['Entry', 'ENTRIES', 'QUICK', 'zoo_ap', 'measure', 'time_interleaved', 'run', 'main']

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
_OURS = osp.join(REPO, 'configs', 'body_2d_keypoint', 'topdown_heatmap', 'coco')
_ZOO = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/'


@dataclass(frozen=True)
class Entry:
    """One model of the benchmark.

    Args:
        name (str): Row name (what ``--models`` matches).
        config (str): Config path or ``mmpose::...``.
        source (str): ``'mmpose_lite'`` or ``'mmpose'``.
        paper_ap (float, optional): COCO val AP the paper reports (ours only).
    """
    name: str
    config: str
    source: str
    paper_ap: Optional[float] = None


def _ours(name: str, cfg: str, paper_ap: Optional[float] = None) -> Entry:
    return Entry(name, osp.join(_OURS, cfg + '.py'), 'mmpose_lite', paper_ap)


def _zoo(name: str, cfg: str) -> Entry:
    return Entry(name, _ZOO + cfg + '.py' if '/' not in cfg else 'mmpose::' + cfg + '.py', 'mmpose')


#: Lite-HRNet paper (arXiv 2104.06403, Table 1, COCO val, 256x192):
#: Lite-HRNet-18 64.8 AP, Lite-HRNet-30 67.2 AP.
ENTRIES: List[Entry] = [
    _ours('LightHRNet-18', 'td-hm_lighthrnet-18_8xb64-210e_coco-256x192', 0.648),
    _ours('LightHRNet-30', 'td-hm_lighthrnet-30_8xb64-210e_coco-256x192', 0.672),
    _ours('XHRNet-S18', 'td-hm_xhrnet-s18_8xb64-210e_coco-256x192'),
    _ours('XHRNet-P18', 'td-hm_xhrnet-p18_8xb64-210e_coco-256x192'),
    _ours('XHRNet-S30', 'td-hm_xhrnet-s30_8xb64-210e_coco-256x192'),
    _ours('SlidePoseNet-light', 'td-hm_slide-light_8xb64-210e_coco-256x192'),
    _ours('StackedHourglass-2', 'td-hm_stacked-hourglass-2_8xb32-210e_coco-256x256'),
    _ours('StackedHourglass-8', 'td-hm_stacked-hourglass-8_8xb32-210e_coco-256x256'),
    _ours('PSA-ResNet-50-p', 'td-hm_res50-psa-p_8xb64-210e_coco-256x192'),
    _ours('PSA-HRNet-W32-p', 'td-hm_hrnet-w32-psa-p_8xb64-210e_coco-256x192'),
    _zoo('mmpose LiteHRNet-18', 'td-hm_litehrnet-18_8xb64-210e_coco-256x192'),
    _zoo('mmpose LiteHRNet-30', 'td-hm_litehrnet-30_8xb64-210e_coco-256x192'),
    _zoo('mmpose HRNet-W32', 'td-hm_hrnet-w32_8xb64-210e_coco-256x192'),
    _zoo('mmpose ResNet-50', 'td-hm_res50_8xb64-210e_coco-256x192'),
    _zoo('mmpose MobileNetV2', 'td-hm_mobilenetv2_8xb64-210e_coco-256x192'),
    _zoo('mmpose ShuffleNetV2', 'td-hm_shufflenetv2_8xb64-210e_coco-256x192'),
    _zoo('mmpose Hourglass52', 'td-hm_hourglass52_8xb32-210e_coco-256x256'),
    _zoo('mmpose RTMPose-t', 'body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_aic-coco-256x192'),
    _zoo('mmpose RTMPose-s', 'body_2d_keypoint/rtmpose/coco/rtmpose-s_8xb256-420e_aic-coco-256x192'),
]

#: ``--quick``: the rows the speed targets are about.
QUICK = ('LightHRNet-18', 'XHRNet-S18', 'mmpose LiteHRNet-18')

#: The reference every ``speedup`` column is computed against.
REFERENCE = 'mmpose LiteHRNet-18'

RUNTIMES = ('eager', 'compile', 'ort')


def select(names: Optional[Sequence[str]] = None, quick: bool = False) -> List[Entry]:
    """Entries whose name contains one of ``names`` (case-insensitive)."""
    if not names:
        return [e for e in ENTRIES if not quick or e.name in QUICK]
    out = [e for e in ENTRIES if any(n.lower() in e.name.lower() for n in names)]
    if not out:
        raise ValueError(f'--models {list(names)} matches no model; valid names: {[e.name for e in ENTRIES]}')
    # the reference row is what every speedup column divides by
    return out + [e for e in ENTRIES if e.name == REFERENCE and e not in out]


def zoo_ap() -> Dict[str, float]:
    """COCO AP per config file name, from MMPose's installed metafiles."""
    import yaml
    import mmpose
    root = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs')
    ap = {}
    for path in glob.glob(osp.join(root, '**', '*.yml'), recursive=True):
        try:
            with open(path) as f:
                meta = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError):
            continue
        for model in meta.get('Models', []) if isinstance(meta, dict) else []:
            for res in model.get('Results', []) or []:
                metrics = res.get('Metrics', {}) or {}
                if res.get('Dataset') == 'COCO' and 'AP' in metrics:
                    ap.setdefault(osp.basename(model.get('Config', '')), float(metrics['AP']))
    return ap


def _complexity(module: torch.nn.Module, x: torch.Tensor) -> Dict[str, float]:
    import logging

    from mmengine.analysis import get_model_complexity_info
    from mmengine.logging import MMLogger
    logger = MMLogger.get_instance('mmengine')
    level = logger.level
    logger.setLevel(logging.ERROR)  # one 'unsupported operator' line per element-wise op type otherwise
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            info = get_model_complexity_info(module, inputs=(x, ), show_table=False, show_arch=False)
    finally:
        logger.setLevel(level)
    return dict(params=info['params'], flops=info['flops'])


def _export_with_fixed_pooling(module: torch.nn.Module, x: torch.Tensor, path: str) -> None:
    """Export with ``adaptive_avg_pool2d`` replaced by fixed ``avg_pool2d``
    where the sizes divide (the same values): the usual workaround for the
    known failure of MMPose's ``LiteHRNet`` ("ONNX export of operator adaptive
    pooling, since output_size is not constant"). Used for MMPose's models
    only, so that they get an onnxruntime row at all."""
    import torch.nn.functional as F

    from mmpose_lite.models.ops import pool_to
    original = F.adaptive_avg_pool2d

    def fixed(input, output_size):
        return pool_to(input, (output_size, output_size) if isinstance(output_size, int) else output_size)

    F.adaptive_avg_pool2d = fixed
    try:
        trace_to_onnx(module, x, path)
    finally:
        F.adaptive_avg_pool2d = original


@contextlib.contextmanager
def _quiet_stdout():
    """Silence file descriptor 1 (the TorchScript exporter prints the whole
    graph there from C++ when an export fails)."""
    import sys
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, 'w') as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def ort_session(module: torch.nn.Module, x: torch.Tensor, threads: int, workaround: bool = False,
                profile_prefix: Optional[str] = None):
    """An onnxruntime CPU session of ``module`` traced on ``x`` (``threads``
    intra-op threads; ``workaround``: MMPose's adaptive pooling exported as
    fixed pooling; ``profile_prefix``: onnxruntime's per-node profiling on)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    with tempfile.TemporaryDirectory(prefix='mmpose_lite_bench_') as tmp:  # the session keeps its own copy
        path = osp.join(tmp, 'model.onnx')
        (_export_with_fixed_pooling if workaround else trace_to_onnx)(module, x, path)
        return ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'])


def ort_session_for(entry: Entry, module: torch.nn.Module, x: torch.Tensor, threads: int,
                    profile_prefix: Optional[str] = None):
    """:func:`ort_session` for a benchmark entry: a model-zoo model whose plain
    export fails on adaptive pooling is exported with fixed pooling instead.
    Returns the session and a note (or None)."""
    try:
        with _quiet_stdout():
            return ort_session(module, x, threads, profile_prefix=profile_prefix), None
    except Exception as e:  # noqa: BLE001
        if entry.source != 'mmpose' or 'adaptive' not in str(e):
            raise
    note = ('ort: plain export fails (adaptive pooling with a non-constant output_size); exported with fixed '
            'avg pooling (same values)')
    return ort_session(module, x, threads, workaround=True, profile_prefix=profile_prefix), note


def _train_step(config: str, batch: int, repeats: int, best_layout: bool = False):
    """Forward + backward of the whole pose model (train mode) at ``batch``:
    the timing and the memory format it ran in (with ``best_layout``, the
    faster of NCHW and channels-last; else the model's own)."""
    from mmpose_lite.deploy.model import build_pose_model
    model, (w, h), _ = build_pose_model(config)
    model.train()
    x = torch.randn(batch, 3, h, w)

    def step(xi):
        model.zero_grad(set_to_none=True)
        out = model(xi, None, mode='tensor')
        out = out if isinstance(out, (list, tuple)) else [out]
        sum(o.float().square().mean() for o in out).backward()

    if best_layout:
        fn, layout = _best_layout(model, x, repeats, call=step, warmup=1)
    else:
        fn, layout = (lambda: step(x)), 'channels-last' if _runs_channels_last(model) else 'NCHW'
    return time_ms(fn, repeats=repeats, warmup=1), layout


def measure(entry: Entry, runtimes: Sequence[str] = ('eager', ), repeats: int = 20, batch: int = 32,
            train_repeats: int = 0, gpu: bool = False, progress=None) -> Dict:
    """Measure one entry; a failing runtime gives an ``error`` note, not an exception.

    The batch-1 latency callables (warmed up) are left in ``row['_calls']``
    for :func:`time_interleaved`, which times all models' calls in turn."""
    from mmpose_lite.deploy import switch_to_deploy
    from mmpose_lite.deploy.model import TensorForward, build_pose_model

    def tick(what):
        if progress is not None:
            progress.set_postfix_str(f'{entry.name}: {what}')

    row = dict(model=entry.name, source=entry.source, config=osp.basename(entry.config), errors=[])
    tick('build')
    model, (w, h), _ = build_pose_model(entry.config)
    module = TensorForward(model).eval()
    x1 = torch.randn(1, 3, h, w)
    row['input'] = f'{h}x{w}'
    tick('flops')
    row.update(_complexity(module, x1))  # of the model as trained, before any rewrite
    if entry.source == 'mmpose_lite':
        switch_to_deploy(model)
    threads = torch.get_num_threads()
    with torch.no_grad():
        for rt in runtimes:
            tick(rt)
            try:
                if rt == 'eager':
                    fn = lambda: module(x1)  # noqa: E731
                    if entry.source == 'mmpose':  # MMPose's model in its faster layout, to be fair
                        fn, row['eager_layout'] = _best_layout(module, x1, max(6, repeats))
                    else:
                        row['eager_layout'] = 'channels-last' if _runs_channels_last(model) else 'NCHW'
                elif rt == 'compile':
                    compiled = torch.compile(module)
                    compiled(x1)  # compile outside the timed region
                    fn = lambda: compiled(x1)  # noqa: E731
                elif rt == 'ort':
                    sess, note = ort_session_for(entry, module, x1, threads)
                    if note:
                        row['errors'].append(note)
                    feed = {sess.get_inputs()[0].name: x1.numpy()}
                    fn = lambda: sess.run(None, feed)  # noqa: E731
                else:
                    raise ValueError(f'unknown runtime {rt!r}; valid: {RUNTIMES}')
                for _ in range(3):  # warm-up
                    fn()
                row.setdefault('_calls', {})[rt] = fn
            except Exception as e:  # noqa: BLE001 - one failing runtime must not end the run
                row['errors'].append(f'{rt}: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ""}')
        if batch:
            tick(f'batch {batch}')
            xb = torch.randn(batch, 3, h, w)
            t = time_ms(lambda: module(xb), repeats=max(2, repeats // 5), warmup=1)
            row['throughput'] = batch / (t['median'] / 1e3)
            row['peak_mib'] = peak_mib(lambda: module(xb))
        if gpu and torch.cuda.is_available():
            tick('cuda')
            row.update(_measure_cuda(module, h, w, repeats))
    if train_repeats:
        tick('train step')
        t, row['train_layout'] = _train_step(entry.config, batch, train_repeats, best_layout=entry.source == 'mmpose')
        row['train_step_ms'] = t['median']
    return row


def time_interleaved(rows: List[Dict], runtimes: Sequence[str], repeats: int, block: int = 5,
                     progress=None) -> None:
    """Batch-1 latency of every row's ``_calls``, the models timed in turn.

    For each runtime, round ``k`` runs every model for ``block`` timed calls
    after one untimed call, so that a slow spell of a shared machine (CPU
    steal on a VM) hits every model alike instead of the one measured then,
    while each model still runs back to back (the untimed call absorbs the
    switch: an onnxruntime session's idle threads spin for a while after a
    run and would slow the next session's first call). Fills ``{rt}_ms``
    (median of ``repeats`` calls) and ``{rt}_spread`` (p25-p75), drops
    ``_calls``."""
    import statistics
    times = {}
    rounds = max(1, -(-repeats // block))
    for rt in runtimes:
        calls = [(i, r['_calls'][rt]) for i, r in enumerate(rows) if rt in r.get('_calls', {})]
        for k in range(rounds):
            if progress is not None:
                progress.set_postfix_str(f'{rt} batch-1 latency, round {k + 1}/{rounds}')
            for i, fn in calls:
                with torch.no_grad():
                    fn()
                    n = min(block, repeats - k * block)
                    if n > 0:
                        times.setdefault((i, rt), []).extend(
                            time_ms(fn, repeats=1, warmup=0)['median'] for _ in range(n))
    for (i, rt), ts in times.items():
        q = statistics.quantiles(ts, n=4) if len(ts) > 1 else ts * 3
        rows[i][f'{rt}_ms'] = statistics.median(ts)
        rows[i][f'{rt}_spread'] = f'{q[0]:.1f}-{q[2]:.1f}'
    for r in rows:
        r.pop('_calls', None)


def _runs_channels_last(model: torch.nn.Module) -> bool:
    return any(getattr(m, 'run_channels_last', False) for m in model.modules())


def _best_layout(module: torch.nn.Module, x: torch.Tensor, repeats: int, call=None, warmup: int = 2):
    """The faster of NCHW and channels-last for ``call(x)`` (default
    ``module(x)``), ``module`` left in that layout: a callable and the
    layout's name."""
    call = module if call is None else call
    nchw = time_ms(lambda: call(x), repeats=max(1, repeats // 2), warmup=warmup)['median']
    module.to(memory_format=torch.channels_last)
    xc = x.contiguous(memory_format=torch.channels_last)
    cl = time_ms(lambda: call(xc), repeats=max(1, repeats // 2), warmup=warmup)['median']
    if cl < nchw:
        return (lambda: call(xc)), 'channels-last'
    module.to(memory_format=torch.contiguous_format)
    return (lambda: call(x)), 'NCHW'


def _measure_cuda(module: torch.nn.Module, h: int, w: int, repeats: int, batch: int = 64) -> Dict:
    dev = 'cuda'
    convs = [p for p in module.parameters() if p.dim() == 4]
    cpu_format = torch.channels_last if convs and convs[0].is_contiguous(
        memory_format=torch.channels_last) and not convs[0].is_contiguous() else torch.contiguous_format
    m = module.to(dev).to(memory_format=torch.channels_last)
    x1 = torch.randn(1, 3, h, w, device=dev).to(memory_format=torch.channels_last)
    xb = torch.randn(batch, 3, h, w, device=dev).to(memory_format=torch.channels_last)
    out = {}
    with torch.autocast('cuda', dtype=torch.float16):
        out['gpu_ms'] = time_ms(lambda: m(x1), repeats=repeats, warmup=10, device=dev)['median']
        t = time_ms(lambda: m(xb), repeats=repeats, warmup=5, device=dev)
        out['gpu_peak_mib'] = peak_mib(lambda: m(xb), dev)
    out['gpu_throughput'] = batch / (t['median'] / 1e3)
    module.to('cpu').to(memory_format=cpu_format)  # back as the CPU runs measured it
    return out


def _add_ap_and_speedups(rows: List[Dict], entries: Sequence[Entry], runtimes: Sequence[str]) -> None:
    try:
        zoo = zoo_ap()
    except Exception:  # noqa: BLE001 - AP is a label; its absence must not end the run
        zoo = {}
    by_name = {e.name: e for e in entries}
    for r in rows:
        e = by_name[r['model']]
        if e.source == 'mmpose':
            ap, r['ap_source'] = zoo.get(r['config']), 'MMPose metafile'
        else:
            ap, r['ap_source'] = e.paper_ap, 'paper-reported' if e.paper_ap is not None else None
        r['ap'] = None if ap is None else round(100 * ap, 1)
    ref = next((r for r in rows if r['model'] == REFERENCE), None)
    for r in rows:
        for rt in runtimes:
            mine, theirs = r.get(f'{rt}_ms'), (ref or {}).get(f'{rt}_ms')
            r[f'{rt}_speedup'] = theirs / mine if mine and theirs else None
        if ref and r.get('train_step_ms') and ref.get('train_step_ms'):
            r['train_speedup'] = ref['train_step_ms'] / r['train_step_ms']


def _columns(rows: List[Dict], runtimes: Sequence[str], batch: int):
    cols = [('model', 'model'), ('input', 'input'), ('params', 'params'), ('flops', 'FLOPs (MACs)'),
            ('ap', 'COCO val AP'), ('ap_source', 'AP from')]
    for rt in runtimes:
        if rt == 'eager':
            cols += [('eager_layout', 'eager layout')]
        cols += [(f'{rt}_ms', f'{rt} ms (b1)'), (f'{rt}_spread', f'{rt} p25-p75'),
                 (f'{rt}_speedup', f'{rt} vs {REFERENCE}')]
    if batch:
        cols += [('throughput', f'img/s (b{batch} eager)'), ('peak_mib', f'peak MiB (b{batch})')]
    if any('train_step_ms' in r for r in rows):
        cols += [('train_layout', 'train layout'), ('train_step_ms', f'train step ms (b{batch})'),
                 ('train_speedup', f'train vs {REFERENCE}')]
    if any('gpu_ms' in r for r in rows):
        cols += [('gpu_ms', 'GPU ms (b1)'), ('gpu_throughput', 'GPU img/s (b64, AMP, CL)'),
                 ('gpu_peak_mib', 'GPU peak MiB')]
    return [c for c, _ in cols], [h for _, h in cols]


def _plot(rows: List[Dict], path: str, runtime: str) -> Optional[str]:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, key, label in ((axes[0], f'{runtime}_ms', f'CPU latency, batch 1, {runtime} (ms)'),
                           (axes[1], 'flops', 'FLOPs (GMACs, mmengine.analysis)')):
        for r in rows:
            if r.get('ap') is None or r.get(key) is None:
                continue
            v = r[key] / 1e9 if key == 'flops' else r[key]
            ours = r['source'] == 'mmpose_lite'
            ax.scatter(v, r['ap'], marker='o' if ours else 's', color='tab:red' if ours else 'tab:blue')
            ax.annotate(r['model'] + (' (paper AP)' if ours else ''), (v, r['ap']), fontsize=7,
                        xytext=(3, 3), textcoords='offset points')
        ax.set_xscale('log')
        ax.set_xlabel(label)
        ax.set_ylabel('COCO val AP')
        ax.grid(alpha=0.3)
    fig.suptitle('mmpose_lite (red, paper-reported AP) vs MMPose model zoo (blue, metafile AP)')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next((ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')), cpu)
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'
    return (f'{cpu}; {os.cpu_count()} logical CPUs; {torch.get_num_threads()} torch threads; GPU: {gpu}; '
            f'torch {torch.__version__}')


def run(entries: Sequence[Entry], runtimes: Sequence[str] = ('eager', 'ort'), repeats: int = 20, batch: int = 32,
        train_repeats: int = 0, out_dir: Optional[str] = None, gpu: bool = True,
        show_progress: bool = True) -> List[Dict]:
    """Measure ``entries`` and write ``benchmark.md``, ``benchmark.csv`` and
    ``benchmark.png`` to ``out_dir`` (when given). Returns the rows."""
    from mmpose.utils import register_all_modules
    from tqdm import tqdm
    register_all_modules()
    import mmpose_lite  # noqa: F401

    rows = []
    bar = tqdm(entries, desc='benchmark', unit='model', disable=not show_progress)
    for entry in bar:
        torch.manual_seed(0)
        try:
            rows.append(measure(entry, runtimes, repeats, batch, train_repeats, gpu, progress=bar))
        except Exception as e:  # noqa: BLE001
            rows.append(dict(model=entry.name, source=entry.source, config=osp.basename(entry.config),
                             errors=[f'build: {type(e).__name__}: {e}']))
    time_interleaved(rows, runtimes, repeats, progress=bar)
    _add_ap_and_speedups(rows, entries, runtimes)
    cols, headers = _columns(rows, runtimes, batch)
    table = format_table(rows, cols, headers)
    notes = [f"- {r['model']}: {err}" for r in rows for err in r.get('errors', [])]
    text = '\n'.join([table, '', f'Machine: {machine()}.'])
    if notes:
        text += '\n\nNotes and failed measurements:\n' + '\n'.join(notes)
    print(text)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        with open(osp.join(out_dir, 'benchmark.md'), 'w') as f:
            f.write(text + '\n')
        with open(osp.join(out_dir, 'benchmark.csv'), 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=cols + ['config', 'errors'], extrasaction='ignore')
            writer.writeheader()
            for r in rows:
                writer.writerow({**r, 'errors': '; '.join(r.get('errors', []))})
        _plot(rows, osp.join(out_dir, 'benchmark.png'), runtimes[0] if runtimes else 'eager')
        print(f'wrote {out_dir}/benchmark.md, benchmark.csv, benchmark.png')
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Benchmark mmpose_lite models against MMPose model-zoo models side by side (one process, '
        'same input, same threads): params, FLOPs, CPU latency per runtime, batch-32 throughput, peak memory, '
        'GPU when present, COCO AP from MMPose metafiles / paper.')
    parser.add_argument('--models', nargs='+', help='substrings of row names (default: all); '
                        f'names: {", ".join(e.name for e in ENTRIES)}')
    parser.add_argument('--quick', action='store_true', help=f'CI mode: only {", ".join(QUICK)}; eager; '
                        'few repeats; batch 8')
    parser.add_argument('--runtimes', nargs='+', default=['eager', 'ort'], choices=RUNTIMES)
    parser.add_argument('--repeats', type=int, default=20, help='timed batch-1 calls per runtime (median)')
    parser.add_argument('--batch', type=int, default=32, help='throughput batch (0: skip)')
    parser.add_argument('--train-step', type=int, default=0, metavar='N',
                        help='also time N training steps (forward+backward) at --batch')
    parser.add_argument('--threads', type=int, default=os.cpu_count(), help='CPU threads (torch and onnxruntime)')
    parser.add_argument('--no-gpu', action='store_true', help='skip the CUDA measurements')
    parser.add_argument('--out-dir', default='work_dirs/benchmark', help='where the .md, .csv and .png go')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    entries = select(args.models, args.quick)
    runtimes, repeats, batch = args.runtimes, args.repeats, args.batch
    if args.quick:
        runtimes, repeats, batch = ['eager'], min(repeats, 5), min(batch, 8)
    return run(entries, runtimes, repeats, batch, args.train_step, args.out_dir, gpu=not args.no_gpu)


if __name__ == '__main__':
    main()
