"""Where a model's batch-1 CPU time goes, per operator type.

``python tools/profile_model.py --models LightHRNet-18 "mmpose LiteHRNet-18" --runtime ort``
prints, for each benchmark entry, the time per forward of each operator type
(PyTorch eager through ``torch.profiler``, onnxruntime through its own
per-node profiling, which includes the layout reorders it inserts around its
blocked-format convolutions; ``--runtime ort-int8`` profiles the benchmark's
INT8 graph, whose fused int8 kernels appear as ``QLinear*``, and
``--runtime eager-bf16`` eager under bf16 autocast), the number of calls, and
the total. Profiling
adds overhead of its own: compare models with each other, not with the
benchmark's wall times.
"""
import argparse
import collections
import json
import os
import tempfile
from typing import Dict, List, Tuple

import torch

__all__ = ['RUNTIMES', 'op_times', 'main']

#: What :func:`op_times` profiles.
RUNTIMES = ('eager', 'eager-bf16', 'ort', 'ort-int8')


def _eager_op_times(module, x, runs: int) -> Dict[str, Tuple[float, int]]:
    with torch.no_grad():
        for _ in range(3):
            module(x)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                module(x)
    return {e.key: (e.self_cpu_time_total / runs / 1e3, e.count // runs) for e in prof.key_averages()
            if e.self_cpu_time_total > 0}


def _ort_op_times(entry, module, x, threads: int, runs: int, int8: bool = False) -> Dict[str, Tuple[float, int]]:
    from .export import ort_int8_session_for, ort_session_for
    warmup = 3
    with tempfile.TemporaryDirectory(prefix='mmpose_lite_prof_') as tmp:
        make = ort_int8_session_for if int8 else ort_session_for
        sess, _ = make(entry, module, x, threads, profile_prefix=os.path.join(tmp, 'ort'))
        feed = {sess.get_inputs()[0].name: x.numpy()}
        for _ in range(warmup + runs):
            sess.run(None, feed)
        with open(sess.end_profiling()) as f:
            events = json.load(f)
    starts = sorted(ev['ts'] for ev in events if ev.get('name') == 'model_run')
    after = starts[warmup]  # the warm-up calls are in the profile too: skip them
    time_us, calls = collections.Counter(), collections.Counter()
    for ev in events:
        if ev.get('cat') == 'Node' and ev.get('name', '').endswith('_kernel_time') and ev['ts'] >= after:
            time_us[ev['args']['op_name']] += ev['dur']
            calls[ev['args']['op_name']] += 1
    return {op: (us / runs / 1e3, calls[op] // runs) for op, us in time_us.items()}


def op_times(entry, runtime: str = 'eager', runs: int = 10, threads: int = None) -> Dict[str, Tuple[float, int]]:
    """``{operator type: (ms per forward, calls per forward)}`` of one
    benchmark entry at batch 1, in its benchmark form (ours deployed, MMPose's
    as shipped), in ``runtime``: ``'eager'``, ``'eager-bf16'`` (under CPU
    bf16 autocast), ``'ort'`` or ``'ort-int8'`` (the benchmark's INT8 graph,
    :func:`~.export.ort_int8_session_for`)."""
    from mmpose_lite.deploy import switch_to_deploy
    from mmpose_lite.deploy.model import TensorForward, build_pose_model
    model, (w, h), _ = build_pose_model(entry.config)
    module = TensorForward(model).eval()
    if entry.source == 'mmpose_lite':
        switch_to_deploy(model)
    x = torch.randn(1, 3, h, w)
    if runtime == 'eager':
        return _eager_op_times(module, x, runs)
    if runtime == 'eager-bf16':
        from mmpose_lite.deploy.precision import BF16Forward
        return _eager_op_times(BF16Forward(module), x, runs)
    if runtime in ('ort', 'ort-int8'):
        return _ort_op_times(entry, module, x, threads or torch.get_num_threads(), runs, int8=runtime == 'ort-int8')
    raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")


def _table(results: Dict[str, Dict[str, Tuple[float, int]]], top: int) -> List[str]:
    names = list(results)
    totals = {n: sum(t for t, _ in r.values()) for n, r in results.items()}
    ops = sorted({op for r in results.values() for op in r}, key=lambda op: -max(
        r.get(op, (0, 0))[0] for r in results.values()))[:top]
    head = '| operator | ' + ' | '.join(f'{n} ms | {n} calls' for n in names) + ' |'
    lines = [head, '|' + '---|' * (1 + 2 * len(names))]
    for op in ops:
        cells = []
        for n in names:
            t, c = results[n].get(op, (0.0, 0))
            cells += [f'{t:.2f}', str(c)]
        lines.append(f'| {op} | ' + ' | '.join(cells) + ' |')
    lines.append('| total | ' + ' | '.join(f'{totals[n]:.2f} | {sum(c for _, c in results[n].values())}'
                                           for n in names) + ' |')
    return lines


def main(argv=None):
    from mmpose.utils import register_all_modules

    import mmpose_lite  # noqa: F401
    from .entries import select
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=['LightHRNet-18', 'XHRNet-S18', 'mmpose LiteHRNet-18'],
                        help='benchmark row names (substrings), see tools/benchmark.py --help')
    parser.add_argument('--runtime', choices=RUNTIMES, default='eager')
    parser.add_argument('--runs', type=int, default=10, help='profiled forwards per model')
    parser.add_argument('--top', type=int, default=15, help='operator types shown')
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    args = parser.parse_args(argv)
    register_all_modules()
    torch.set_num_threads(args.threads)
    results = {e.name: op_times(e, args.runtime, args.runs, args.threads) for e in select(args.models)}
    print('\n'.join(_table(results, args.top)))
    print(f'\n{args.runtime}, batch 1, {args.threads} threads, ms and calls per forward (self time of each '
          'operator type, under the profiler).')
    return results


if __name__ == '__main__':
    main()
