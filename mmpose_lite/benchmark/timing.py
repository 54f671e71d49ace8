"""Timing, memory and table helpers shared by the benchmark commands."""
import os
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch

__all__ = ['time_ms', 'median_ms', 'peak_mib', 'format_table']


def _sync(device: str) -> Callable[[], None]:
    return torch.cuda.synchronize if str(device).startswith('cuda') else (lambda: None)


def time_ms(fn: Callable[[], object], repeats: int = 20, warmup: int = 3, device: str = 'cpu') -> Dict[str, float]:
    """Wall time of ``fn()`` in milliseconds after ``warmup`` calls.

    Returns:
        dict: ``median``, ``p25``, ``p75`` (the spread), ``min`` over ``repeats``
        calls (CUDA synchronised after each).
    """
    sync = _sync(device)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return dict(median=statistics.median(times), p25=q[0], p75=q[2], min=times[0])


def median_ms(fn: Callable[[], object], repeats: int = 20, warmup: int = 3, device: str = 'cpu') -> float:
    """Median wall time of ``fn()`` in milliseconds (see :func:`time_ms`)."""
    return time_ms(fn, repeats, warmup, device)['median']


class _Quiet:
    """Silence the process's stderr (file descriptor 2) for a while: the
    profiler's C++ side prints start/stop lines there."""

    def __enter__(self):
        self._saved, self._null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        os.dup2(self._null, 2)

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        os.close(self._null)
        return False


def peak_mib(fn: Callable[[], object], device: str = 'cpu') -> float:
    """Peak tensor memory that one call of ``fn()`` allocates, in MiB.

    CUDA: ``torch.cuda.max_memory_allocated`` above what was allocated before
    the call. CPU: the running total of the allocation and free events that
    ``torch.profiler`` records (``profile_memory=True``) for the call, at its
    maximum. Both count what PyTorch's allocator hands out (activations,
    workspaces), not the process's resident set, which the C library keeps
    high after frees and so cannot tell one model from the next.
    """
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    from torch.profiler import ProfilerActivity, profile
    with _Quiet(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == '[memory]')
    total = peak = 0
    for _, nbytes in events:
        total += nbytes
        peak = max(peak, total)
    return peak / 2**20


def _fmt(v) -> str:
    if v is None:
        return '-'
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)) and abs(v) >= 10**6:
        return f'{v / 1e9:.3f}G' if abs(v) >= 10**9 else f'{v / 1e6:.3f}M'
    if isinstance(v, float):
        if v != v:  # nan
            return '-'
        return f'{v:.2e}' if abs(v) < 1e-2 and v else f'{v:.2f}'
    return str(v)


def format_table(rows: List[Dict], columns: Sequence[str], headers: Optional[Sequence[str]] = None) -> str:
    """A Markdown table of ``rows`` (floats with 2 decimals, large ints in M/G,
    ``None``/NaN as ``-``)."""
    headers = list(headers or columns)
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(columns)]
    lines += ['| ' + ' | '.join(_fmt(r.get(c)) for c in columns) + ' |' for r in rows]
    return '\n'.join(lines)
