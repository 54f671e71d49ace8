"""The benchmark's report: speedups, the Markdown table, the CSV and the plot,
all from the measured rows (plain data)."""
import csv
import os
import os.path as osp
import platform
from typing import Dict, List, Sequence, Tuple

import torch

from .entries import REFERENCE
from .latency import LOWER_PRECISION
from .timing import format_table

__all__ = ['add_speedups', 'columns', 'machine', 'render', 'write_csv', 'plot', 'write_report']


def _ratio(num, den):
    return num / den if num and den else None


def add_speedups(rows: List[Dict], runtimes: Sequence[str], reference: str = REFERENCE) -> None:
    """Fill ``{rt}_speedup`` (the reference row's batch-1 time over this
    row's, same runtime) and ``train_speedup`` where both times exist; for a
    lower-precision runtime (:data:`~.latency.LOWER_PRECISION`) also
    ``{rt}_vs_ref_fp32`` (against the reference's fp32 onnxruntime time) and
    ``{rt}_vs_own_fp32`` (against this row's own fp32 time in the runtime it
    lowers: eager for ``eager-bf16``, onnxruntime for ``ort-int8``)."""
    ref = next((r for r in rows if r['model'] == reference), None) or {}
    for r in rows:
        for rt in runtimes:
            r[f'{rt}_speedup'] = _ratio(ref.get(f'{rt}_ms'), r.get(f'{rt}_ms'))
            if rt in LOWER_PRECISION:
                r[f'{rt}_vs_ref_fp32'] = _ratio(ref.get('ort_ms'), r.get(f'{rt}_ms'))
                r[f'{rt}_vs_own_fp32'] = _ratio(r.get(f'{LOWER_PRECISION[rt]}_ms'), r.get(f'{rt}_ms'))
        if ref and r.get('train_step_ms') and ref.get('train_step_ms'):
            r['train_speedup'] = ref['train_step_ms'] / r['train_step_ms']


def columns(rows: List[Dict], runtimes: Sequence[str], batch: int) -> Tuple[List[str], List[str]]:
    """The report's row keys and their headers: the measurements that were
    asked for (``runtimes``, ``batch``) or that some row has (train step, GPU)."""
    cols = [('model', 'model'), ('input', 'input'), ('params', 'params'), ('flops', 'FLOPs (MACs)'),
            ('ap', 'COCO val AP'), ('ap_source', 'AP from')]
    for rt in runtimes:
        if rt in ('eager', 'eager-bf16'):
            cols += [(f'{rt}_layout', f'{rt} layout')]
        cols += [(f'{rt}_ms', f'{rt} ms (b1)'), (f'{rt}_spread', f'{rt} p25-p75'),
                 (f'{rt}_speedup', f'{rt} vs {REFERENCE}')]
        if rt in LOWER_PRECISION:
            cols += [(f'{rt}_vs_ref_fp32', f'{rt} vs {REFERENCE} ort (fp32)'),
                     (f'{rt}_vs_own_fp32', f'{rt} vs own {LOWER_PRECISION[rt]} (fp32)')]
    if batch:
        cols += [('throughput', f'img/s (b{batch} eager)'), ('peak_mib', f'peak MiB (b{batch})')]
    if any('train_step_ms' in r for r in rows):
        cols += [('train_layout', 'train layout'), ('train_step_ms', f'train step ms (b{batch})'),
                 ('train_speedup', f'train vs {REFERENCE}')]
    if any('gpu_ms' in r for r in rows):
        cols += [('gpu_ms', 'GPU ms (b1)'), ('gpu_throughput', 'GPU img/s (b64, AMP, CL)'),
                 ('gpu_peak_mib', 'GPU peak MiB')]
    return [c for c, _ in cols], [h for _, h in cols]


#: CPU flags that decide what the lower precisions can gain (bf16 and int8 dot-product instructions)
PRECISION_FLAGS = ('avx512_bf16', 'amx_bf16', 'avx512_vnni', 'avx_vnni', 'amx_int8')


def machine() -> str:
    """One line: CPU model, its vector ISA as PyTorch uses it and its bf16 /
    int8 instructions (:data:`PRECISION_FLAGS`), logical CPUs, torch threads,
    GPU, torch version."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        with open('/proc/cpuinfo') as f:
            info = [ln.split(':', 1) for ln in f if ':' in ln]
        cpu = next((v.strip() for k, v in info if k.strip() == 'model name'), cpu)
        flags = set(next((v.split() for k, v in info if k.strip() == 'flags'), []))
    except OSError:
        pass
    precision = ', '.join(f for f in PRECISION_FLAGS if f in flags) or 'none of ' + '/'.join(PRECISION_FLAGS)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'
    return (f'{cpu} ({torch.backends.cpu.get_cpu_capability()}; bf16/int8 instructions: {precision}); '
            f'{os.cpu_count()} logical CPUs; {torch.get_num_threads()} torch threads; GPU: {gpu}; '
            f'torch {torch.__version__}')


def render(rows: List[Dict], cols: Sequence[str], headers: Sequence[str]) -> str:
    """The Markdown report: the table, the machine, then each row's notes."""
    notes = [f"- {r['model']}: {err}" for r in rows for err in r.get('errors', [])]
    text = '\n'.join([format_table(rows, cols, headers), '', f'Machine: {machine()}.'])
    if notes:
        text += '\n\nNotes and failed measurements:\n' + '\n'.join(notes)
    return text


def write_csv(rows: List[Dict], cols: Sequence[str], path: str) -> None:
    """``cols`` plus ``config`` and ``errors`` (joined with ``'; '``), one line per row."""
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(cols) + ['config', 'errors'], extrasaction='ignore')
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, 'errors': '; '.join(r.get('errors', []))})


def plot(rows: List[Dict], path: str, runtime: str) -> str:
    """COCO AP against batch-1 latency in ``runtime`` (left) and against
    FLOPs (right), both log-scaled; rows without AP are left out. Drawn on
    a standalone figure (no pyplot state, no backend switch)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(13, 5))
    axes = fig.subplots(1, 2)
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
    return path


def write_report(rows: List[Dict], text: str, cols: Sequence[str], out_dir: str, runtime: str) -> List[str]:
    """``benchmark.md`` (``text``), ``benchmark.csv`` and ``benchmark.png``
    (against ``runtime``'s latency) in ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [osp.join(out_dir, f'benchmark.{ext}') for ext in ('md', 'csv', 'png')]
    with open(paths[0], 'w') as f:
        f.write(text + '\n')
    write_csv(rows, cols, paths[1])
    plot(rows, paths[2], runtime)
    return paths
