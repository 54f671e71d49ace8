"""Side-by-side benchmark of this package's models and MMPose model-zoo models.

Every model is built from a config (ours from ``configs/``, MMPose's from its
installed configs, ``mmpose::...``) and measured in one process, on the same
random input, with the same number of threads:

* parameters and FLOPs: one counter for all, ``mmengine.analysis`` (it traces
  the model and counts multiply-accumulates of convolutions, linear layers,
  matrix products and einsums; element-wise ops are not counted);
* CPU latency at batch 1 (median after warm-up, with the p25-p75 spread;
  the models are timed in turn, a few calls each per round, see
  :func:`~mmpose_lite.benchmark.latency.time_interleaved`) in each runtime
  asked for: PyTorch eager, ``torch.compile``, onnxruntime, and the lower
  precisions ``eager-bf16`` (eager under CPU bf16 autocast) and ``ort-int8``
  (onnxruntime, static INT8 by :mod:`mmpose_lite.deploy.quantize`, every
  model quantized the same way), each also against its own fp32 runtime and
  the reference's fp32 onnxruntime;
* CPU throughput at batch 32 (eager) and the peak memory of that batch;
* the same on CUDA when a GPU is present (batch 1 latency, batch 64
  throughput with channels-last and AMP, peak memory).

Our models run in their deploy form (:func:`mmpose_lite.deploy.switch_to_deploy`,
exact rewrites); MMPose's run as MMPose ships them (eval mode). The COCO AP
of each model-zoo model comes from MMPose's installed metafiles; for ours the
AP the paper reports, labelled as such (none of ours was trained on COCO here).

The parts: :mod:`.entries` (the models), :mod:`.measure` and :mod:`.latency`
(the measurements), :mod:`.export` (onnxruntime sessions), :mod:`.report`
(table, CSV, plot). ``python tools/benchmark.py`` (or
``mmpose-lite-benchmark``) is the command.
"""
import argparse
import os
from typing import Dict, List, Optional, Sequence

import torch

from mmpose_lite.utils.cli import ensure_writable_dir, int_at_least
from .entries import ENTRIES, QUICK, REFERENCE, Entry, add_ap, config_entry, select
from .latency import RUNTIMES, time_interleaved
from .measure import Measurement, failed_row, measure_entry
from .report import add_speedups, columns, render, write_report

__all__ = ['run', 'main']


def run(entries: Sequence[Entry], runtimes: Sequence[str] = ('eager', 'ort'), repeats: int = 20, batch: int = 32,
        train_repeats: int = 0, out_dir: Optional[str] = None, gpu: bool = True,
        show_progress: bool = True, input_size: Optional[Sequence[int]] = None) -> List[Dict]:
    """Measure ``entries`` and report them.

    Args:
        entries (Sequence[Entry]): The models, measured in this order; one
            that cannot be built gets a row with its error.
        runtimes (Sequence[str]): Batch-1 runtimes (see
            :data:`~mmpose_lite.benchmark.latency.RUNTIMES`).
        repeats (int): Timed batch-1 calls per model and runtime.
        batch (int): Throughput and training-step batch (0: none).
        train_repeats (int): Timed training steps (0: none).
        out_dir (str, optional): Where ``benchmark.md``, ``benchmark.csv``
            and ``benchmark.png`` go. Default: nowhere (printed only).
        gpu (bool): Also measure on CUDA when available.
        show_progress (bool): A progress bar on stderr.
        input_size (Sequence[int], optional): (w, h) for every model instead
            of its config's.

    Returns:
        list[dict]: One row per entry, plain data.
    """
    from mmpose.utils import register_all_modules
    from tqdm import tqdm
    register_all_modules()
    import mmpose_lite  # noqa: F401

    measured: List[Measurement] = []
    bar = tqdm(entries, desc='benchmark', unit='model', disable=not show_progress)
    for entry in bar:
        torch.manual_seed(0)
        try:
            measured.append(measure_entry(entry, runtimes, repeats, batch, train_repeats, gpu, progress=bar,
                                          input_size=input_size))
        except Exception as e:  # noqa: BLE001
            measured.append(Measurement(failed_row(entry, e)))
    time_interleaved(measured, runtimes, repeats, progress=bar)
    rows = [m.row for m in measured]
    add_ap(rows, entries)
    add_speedups(rows, runtimes)
    cols, headers = columns(rows, runtimes, batch)
    text = render(rows, cols, headers)
    print(text)
    if out_dir:
        write_report(rows, text, cols, out_dir, runtimes[0] if runtimes else 'eager')
        print(f'wrote {out_dir}/benchmark.md, benchmark.csv, benchmark.png')
    return rows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Benchmark mmpose_lite models against MMPose model-zoo models side by side (one process, '
        'same input, same threads): params, FLOPs, CPU latency per runtime, batch-32 throughput, peak memory, '
        'GPU when present, COCO AP from MMPose metafiles / paper.')
    parser.add_argument('--models', nargs='+', metavar='NAME',
                        help='rows to measure, by exact name (--list prints them; default: all): '
                        f'{", ".join(repr(e.name) for e in ENTRIES)}')
    parser.add_argument('--list', action='store_true', help='print the row names and their configs, and exit')
    parser.add_argument('--quick', action='store_true', help=f'CI mode: only {", ".join(QUICK)}; eager; '
                        'few repeats; batch 8')
    parser.add_argument('--config', nargs='+', default=[], metavar='CONFIG',
                        help="also measure these configs (paths, 'mmpose_lite::...' or 'mmpose::...'), one row each")
    parser.add_argument('--input-size', type=int_at_least(32), nargs=2, metavar=('W', 'H'),
                        help="measure every model at this input size (multiples of 32) instead of its config's")
    parser.add_argument('--runtimes', nargs='+', default=['eager', 'ort'], choices=RUNTIMES,
                        help='batch-1 runtimes (default: eager ort); eager-bf16 and ort-int8 add ratios against '
                        'their fp32 runtime')
    parser.add_argument('--repeats', type=int_at_least(1), default=20, help='timed batch-1 calls per runtime (median)')
    parser.add_argument('--batch', type=int_at_least(0), default=32, help='throughput batch (0: skip)')
    parser.add_argument('--train-step', type=int_at_least(0), default=0, metavar='N',
                        help='also time N training steps (forward+backward) at --batch')
    parser.add_argument('--threads', type=int_at_least(1), default=os.cpu_count(),
                        help='CPU threads (torch and onnxruntime)')
    parser.add_argument('--no-gpu', action='store_true', help='skip the CUDA measurements')
    parser.add_argument('--out-dir', default='work_dirs/benchmark', help='where the .md, .csv and .png go')
    return parser


def parse_args(argv=None):
    """The command line, checked as a whole before anything is built: a bad
    argument is argparse's usage error (exit status 2) naming it and what to
    do.

    Returns:
        tuple: The parsed arguments and the selected entries (``None`` with
        ``--list``).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        return args, None
    if args.input_size and any(v % 32 for v in args.input_size):
        w, h = args.input_size
        parser.error(f'--input-size {w} {h}: width and height must be multiples of 32 (the HR backbones halve the '
                     f'input five times), e.g. {-(-w // 32) * 32} {-(-h // 32) * 32}')
    if args.train_step and not args.batch:
        parser.error('--train-step needs a batch: give --batch N with N >= 1')
    try:
        entries = select(args.models, args.quick) if args.models or args.quick or not args.config else \
            [e for e in ENTRIES if e.name == REFERENCE]
    except ValueError as e:  # no --models name matched: the message lists the valid names
        parser.error(str(e))
    try:
        entries += [config_entry(c) for c in args.config]
        ensure_writable_dir(args.out_dir, '--out-dir')
    except OSError as e:  # a --config path that does not exist, an unwritable --out-dir
        parser.error(str(e))
    return args, entries


def main(argv=None) -> None:
    """The ``mmpose-lite-benchmark`` command (``--help``). Every argument is
    checked before anything is built (:func:`parse_args`). Returns None, so
    that the console script exits with status 0 (:func:`run` returns the
    rows)."""
    args, entries = parse_args(argv)
    if args.list:
        width = max(len(e.name) for e in ENTRIES)
        for e in ENTRIES:
            print(f'{e.name:<{width}}  {e.config}')
        return
    torch.set_num_threads(args.threads)
    runtimes, repeats, batch = args.runtimes, args.repeats, args.batch
    if args.quick:
        runtimes, repeats, batch = ['eager'], min(repeats, 5), min(batch, 8)
    run(entries, runtimes, repeats, batch, args.train_step, args.out_dir, gpu=not args.no_gpu,
        input_size=args.input_size)


if __name__ == '__main__':
    main()
