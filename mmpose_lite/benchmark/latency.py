"""Batch-1 latency per runtime: the calls to time, and timing them in turn.

:func:`batch1_call` makes a model's warmed-up batch-1 call in one runtime
(PyTorch eager, ``torch.compile``, onnxruntime, and the lower precisions:
eager under bf16 autocast, onnxruntime INT8); :func:`time_interleaved`
times the calls of every model in turn, so that a slow spell of a shared
machine hits every model alike.
"""
import statistics
from typing import Callable, Dict, List, Sequence

import torch

from .export import ort_int8_session_for, ort_session_for
from .timing import time_ms

__all__ = ['RUNTIMES', 'LOWER_PRECISION', 'batch1_call', 'best_layout', 'runs_channels_last', 'time_interleaved']

RUNTIMES = ('eager', 'compile', 'ort', 'eager-bf16', 'ort-int8')

#: The lower-precision runtimes and the fp32 runtime each is compared with.
LOWER_PRECISION = {'eager-bf16': 'eager', 'ort-int8': 'ort'}


def runs_channels_last(model: torch.nn.Module) -> bool:
    """Whether one of ``model``'s modules runs in channels-last (our deploy
    forms of the HR backbones set ``run_channels_last``)."""
    return any(getattr(m, 'run_channels_last', False) for m in model.modules())


def best_layout(module: torch.nn.Module, x: torch.Tensor, repeats: int, call=None, warmup: int = 2):
    """The faster of NCHW and channels-last for ``call(x)``.

    Args:
        module (nn.Module): Moved to the faster memory format (left there).
        x (Tensor): NCHW input.
        repeats (int): Timed calls per layout are ``repeats // 2`` (at least 1).
        call (callable, optional): What to time. Default: ``module`` itself.
        warmup (int): Untimed calls per layout.

    Returns:
        tuple: A callable running ``call`` on ``x`` in that layout, and the
        layout's name (``'NCHW'`` or ``'channels-last'``).
    """
    call = module if call is None else call
    nchw = time_ms(lambda: call(x), repeats=max(1, repeats // 2), warmup=warmup)['median']
    module.to(memory_format=torch.channels_last)
    xc = x.contiguous(memory_format=torch.channels_last)
    cl = time_ms(lambda: call(xc), repeats=max(1, repeats // 2), warmup=warmup)['median']
    if cl < nchw:
        return (lambda: call(xc)), 'channels-last'
    module.to(memory_format=torch.contiguous_format)
    return (lambda: call(x)), 'NCHW'


def batch1_call(runtime: str, entry, model: torch.nn.Module, module: torch.nn.Module, x: torch.Tensor,
                repeats: int, threads: int, row: Dict) -> Callable[[], object]:
    """A warmed-up batch-1 call of one model in one runtime (call it under
    ``torch.no_grad()``).

    Args:
        runtime (str): One of :data:`RUNTIMES`.
        entry (Entry): The benchmark entry (MMPose's models run eager, fp32
            and bf16, in the faster of their two layouts, to be fair to them).
        model (nn.Module): The pose model.
        module (nn.Module): Its tensor-in, heatmaps-out wrapper.
        x (Tensor): The batch-1 input.
        repeats (int): Timed calls, for the eager layout choice.
        threads (int): onnxruntime threads.
        row (dict): The entry's row: gets ``eager_layout`` and notes.

    Raises:
        ValueError: An unknown runtime. A runtime that fails raises its
        own error.
    """
    if runtime == 'eager':
        fn = lambda: module(x)  # noqa: E731
        if entry.source == 'mmpose':
            fn, row['eager_layout'] = best_layout(module, x, max(6, repeats))
        else:
            row['eager_layout'] = 'channels-last' if runs_channels_last(model) else 'NCHW'
    elif runtime == 'compile':
        compiled = torch.compile(module)
        compiled(x)  # compile outside the timed region
        fn = lambda: compiled(x)  # noqa: E731
    elif runtime == 'eager-bf16':
        import copy

        from mmpose_lite.deploy.precision import BF16Forward
        bf16 = BF16Forward(copy.deepcopy(module))  # its own copy: a layout choice here must not move eager's
        fn = lambda: bf16(x)  # noqa: E731
        if entry.source == 'mmpose':
            fn, row['eager-bf16_layout'] = best_layout(bf16, x, max(6, repeats))
        else:
            row['eager-bf16_layout'] = 'channels-last' if runs_channels_last(model) else 'NCHW'
    elif runtime in ('ort', 'ort-int8'):
        make = ort_session_for if runtime == 'ort' else ort_int8_session_for
        sess, note = make(entry, module, x, threads)
        if note and note not in row['errors']:
            row['errors'].append(note)
        feed = {sess.get_inputs()[0].name: x.numpy()}
        fn = lambda: sess.run(None, feed)  # noqa: E731
    else:
        raise ValueError(f'unknown runtime {runtime!r}; valid: {RUNTIMES}')
    for _ in range(3):  # warm-up
        fn()
    return fn


def time_interleaved(measurements: Sequence, runtimes: Sequence[str], repeats: int, block: int = 5,
                     progress=None) -> None:
    """Batch-1 latency of every measurement's ``calls``, the models timed in turn.

    For each runtime, round ``k`` runs every model for ``block`` timed calls
    after one untimed call, so that a slow spell of a shared machine (CPU
    steal on a VM) hits every model alike instead of the one measured then,
    while each model still runs back to back (the untimed call absorbs the
    switch: an onnxruntime session's idle threads spin for a while after a
    run and would slow the next session's first call).

    Args:
        measurements (Sequence[Measurement]): Each with ``calls`` (runtime
            to callable) and ``row``; fills ``{rt}_ms`` (median of
            ``repeats`` calls) and ``{rt}_spread`` (p25-p75) in the row and
            empties ``calls`` (releasing the models and sessions).
        runtimes (Sequence[str]): Runtimes to time, in this order.
        repeats (int): Timed calls per model and runtime.
        block (int): Timed calls per model and round.
        progress (tqdm, optional): Shows the round.
    """
    times: Dict = {}
    rounds = max(1, -(-repeats // block))
    for rt in runtimes:
        calls = [(i, m.calls[rt]) for i, m in enumerate(measurements) if rt in m.calls]
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
        q: List[float] = statistics.quantiles(ts, n=4) if len(ts) > 1 else ts * 3
        measurements[i].row[f'{rt}_ms'] = statistics.median(ts)
        measurements[i].row[f'{rt}_spread'] = f'{q[0]:.1f}-{q[2]:.1f}'
    for m in measurements:
        m.calls.clear()
