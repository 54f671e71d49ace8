"""Measuring one benchmark entry: parameters and FLOPs, batch-1 latency per
runtime, batch throughput and peak memory, CUDA, a training step.

Every model is measured on random input at its config's size (or
``input_size``). Ours run in their deploy form
(:func:`mmpose_lite.deploy.switch_to_deploy`, exact rewrites); MMPose's as
MMPose ships them (eval mode). A row is plain data (numbers and strings, the
notes a list of strings); the warmed-up batch-1 calls that
:func:`~mmpose_lite.benchmark.latency.time_interleaved` times live beside it
in the :class:`Measurement`.
"""
import logging
import os.path as osp
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence

import torch

from mmpose_lite.deploy.onnx import build_model_named
from .latency import batch1_call, best_layout, runs_channels_last, time_interleaved
from .timing import peak_mib, time_ms

__all__ = ['Measurement', 'complexity', 'measure_entry', 'measure', 'failed_row', 'train_step']


@dataclass
class Measurement:
    """One measured entry.

    Args:
        row (dict): The results, plain data: ``model``, ``source``,
            ``config``, ``errors`` (list of notes), then what was measured.
        calls (dict): Runtime name to a warmed-up batch-1 call, still to be
            timed (emptied once timed).
    """
    row: Dict
    calls: Dict[str, Callable[[], object]] = field(default_factory=dict)


def failed_row(entry, error: BaseException) -> Dict:
    """The row of an entry whose model could not be built or measured."""
    return dict(model=entry.name, source=entry.source, config=osp.basename(entry.config),
                errors=[f'build: {type(error).__name__}: {error}'])


def complexity(module: torch.nn.Module, x: torch.Tensor) -> Dict[str, float]:
    """Parameters and FLOPs (multiply-accumulates) of ``module`` on ``x``,
    by ``mmengine.analysis`` (convolutions, linear layers, matrix products
    and einsums; element-wise ops are not counted)."""
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


def throughput_and_memory(module: torch.nn.Module, batch: int, h: int, w: int, repeats: int) -> Dict[str, float]:
    """CPU images per second at ``batch`` (median of ``max(2, repeats // 5)``
    calls) and the peak tensor memory of one such call in MiB."""
    xb = torch.randn(batch, 3, h, w)
    t = time_ms(lambda: module(xb), repeats=max(2, repeats // 5), warmup=1)
    return dict(throughput=batch / (t['median'] / 1e3), peak_mib=peak_mib(lambda: module(xb)))


def measure_cuda(module: torch.nn.Module, h: int, w: int, repeats: int, batch: int = 64) -> Dict[str, float]:
    """On CUDA, channels-last and float16 autocast: batch-1 latency
    (``gpu_ms``), batch throughput (``gpu_throughput``) and peak memory
    (``gpu_peak_mib``); ``module`` goes back to the CPU in its memory format."""
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
    module.to('cpu').to(memory_format=cpu_format)
    return out


def train_step(config: str, batch: int, repeats: int, best: bool = False,
               input_size: Optional[Sequence[int]] = None):
    """Forward + backward of the whole pose model (train mode) at ``batch``.

    Args:
        config (str): The model's config.
        batch (int): Batch size.
        repeats (int): Timed steps (after one untimed).
        best (bool): Run in the faster of NCHW and channels-last; else in
            the model's own layout.
        input_size (Sequence[int], optional): (w, h) instead of the config's.

    Returns:
        tuple: :func:`~mmpose_lite.benchmark.timing.time_ms`'s dict and the
        layout's name.
    """
    model, (w, h), _ = build_model_named(config)
    if input_size:
        w, h = input_size
    model.train()
    x = torch.randn(batch, 3, h, w)

    def step(xi):
        model.zero_grad(set_to_none=True)
        out = model(xi, None, mode='tensor')
        out = out if isinstance(out, (list, tuple)) else [out]
        sum(o.float().square().mean() for o in out).backward()

    if best:
        fn, layout = best_layout(model, x, repeats, call=step, warmup=1)
    else:
        fn, layout = (lambda: step(x)), 'channels-last' if runs_channels_last(model) else 'NCHW'
    return time_ms(fn, repeats=repeats, warmup=1), layout


def measure_entry(entry, runtimes: Sequence[str] = ('eager', ), repeats: int = 20, batch: int = 32,
                  train_repeats: int = 0, gpu: bool = False, progress=None,
                  input_size: Optional[Sequence[int]] = None) -> Measurement:
    """Measure one entry, all but its batch-1 latency, which is left as
    warmed-up calls in :attr:`Measurement.calls` for
    :func:`~mmpose_lite.benchmark.latency.time_interleaved`.

    Args:
        entry (Entry): What to build, from which config.
        runtimes (Sequence[str]): Batch-1 runtimes; one that fails adds a
            note to ``row['errors']`` instead of raising.
        repeats (int): Timed batch-1 calls (also sizes the other timings).
        batch (int): Throughput batch; 0 skips throughput and memory.
        train_repeats (int): Timed training steps at ``batch``; 0 skips them.
        gpu (bool): Also measure on CUDA when it is available.
        progress (tqdm, optional): Shows the current step.
        input_size (Sequence[int], optional): (w, h) instead of the config's.

    Raises:
        InputShapeError: The model cannot take ``input_size``.
    """
    from mmpose_lite.deploy import switch_to_deploy
    from mmpose_lite.deploy.model import TensorForward
    from mmpose_lite.deploy.onnx import check_runs_at

    def tick(what):
        if progress is not None:
            progress.set_postfix_str(f'{entry.name}: {what}')

    result = Measurement(dict(model=entry.name, source=entry.source, config=osp.basename(entry.config), errors=[]))
    row = result.row
    tick('build')
    model, (w, h), _ = build_model_named(entry.config)
    module = TensorForward(model).eval()
    if input_size:
        check_runs_at(module, torch.randn(1, 3, input_size[1], input_size[0]), entry.config, (w, h))
        w, h = input_size
    x1 = torch.randn(1, 3, h, w)
    row['input'] = f'{h}x{w}'
    tick('flops')
    row.update(complexity(module, x1))  # of the model as trained, before any rewrite
    if entry.source == 'mmpose_lite':
        switch_to_deploy(model)
    threads = torch.get_num_threads()
    with torch.no_grad():
        for rt in runtimes:
            tick(rt)
            try:
                result.calls[rt] = batch1_call(rt, entry, model, module, x1, repeats, threads, row)
            except Exception as e:  # noqa: BLE001 - one failing runtime must not end the run
                row['errors'].append(f'{rt}: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ""}')
        if batch:
            tick(f'batch {batch}')
            row.update(throughput_and_memory(module, batch, h, w, repeats))
        if gpu and torch.cuda.is_available():
            tick('cuda')
            row.update(measure_cuda(module, h, w, repeats))
    if train_repeats:
        tick('train step')
        t, row['train_layout'] = train_step(entry.config, batch, train_repeats, best=entry.source == 'mmpose',
                                            input_size=input_size)
        row['train_step_ms'] = t['median']
    return result


def measure(entry, runtimes: Sequence[str] = ('eager', ), repeats: int = 20, batch: int = 32,
            train_repeats: int = 0, gpu: bool = False, progress=None,
            input_size: Optional[Sequence[int]] = None) -> Dict:
    """Measure one entry on its own: :func:`measure_entry`, then its batch-1
    calls timed (``{rt}_ms``, ``{rt}_spread``). Returns the row (plain data).
    Same arguments and errors as :func:`measure_entry`."""
    result = measure_entry(entry, runtimes, repeats, batch, train_repeats, gpu, progress, input_size)
    time_interleaved([result], runtimes, repeats, progress=progress)
    return result.row
