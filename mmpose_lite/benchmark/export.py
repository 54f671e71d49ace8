"""onnxruntime sessions of benchmark models (fp32, and INT8 quantized the same
way for every model), and the scoped export workaround for MMPose's
``LiteHRNet``.

MMPose's ``LiteHRNet`` does not export to ONNX as shipped: its
cross-resolution weighting calls ``F.adaptive_avg_pool2d`` with an output
size read from a tensor's shape, which the TorchScript exporter refuses
("ONNX export of operator adaptive pooling, since output_size is not
constant"). :func:`fixed_adaptive_pooling` exports such a model with fixed
``avg_pool2d`` where the sizes divide (the same values), through a
:class:`~torch.overrides.TorchFunctionMode` that is active only inside its
``with`` block and only on the calling thread: ``torch.nn.functional`` itself
is never modified.
"""
import contextlib
import os
import os.path as osp
import sys
import tempfile
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from mmpose_lite.deploy.onnx import trace_to_onnx
from mmpose_lite.models.ops import pool_to

__all__ = ['fixed_adaptive_pooling', 'ort_session', 'ort_session_for', 'ort_int8_session_for', 'CALIB_INPUTS',
           'WORKAROUND_NOTE']

#: The row note of a model exported through :func:`fixed_adaptive_pooling`.
WORKAROUND_NOTE = ('ort: plain export fails (adaptive pooling with a non-constant output_size); exported with fixed '
                   'avg pooling (same values)')


class _FixedPooling(TorchFunctionMode):
    """Routes ``F.adaptive_avg_pool2d`` to :func:`~mmpose_lite.models.ops.pool_to`
    (plain Python sizes, so a traced graph gets a constant kernel); every
    other torch call runs unchanged."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.adaptive_avg_pool2d:
            x = args[0] if args else kwargs['input']
            size = args[1] if len(args) > 1 else kwargs['output_size']
            size = (size, size) if isinstance(size, int) else tuple(size)
            if None not in size:  # None keeps the input's size: leave that case to torch
                return pool_to(x, size)
        return func(*args, **kwargs)


@contextlib.contextmanager
def fixed_adaptive_pooling():
    """Inside the block, ``F.adaptive_avg_pool2d(x, size)`` runs as a fixed
    ``avg_pool2d`` wherever ``x``'s size is a whole multiple of ``size`` (the
    same values), so that a model calling it with a traced size exports.

    Scoped: a torch function mode on the calling thread, left on exit, error
    or not; no attribute of ``torch`` is replaced.
    """
    with _FixedPooling():
        yield


@contextlib.contextmanager
def _quiet_stdout():
    """Silence file descriptor 1 (the TorchScript exporter prints the whole
    graph there from C++ when an export fails)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, 'w') as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _session(path: str, threads: int, profile_prefix: Optional[str] = None):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    return ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'])


def ort_session(module: torch.nn.Module, x: torch.Tensor, threads: int, workaround: bool = False,
                profile_prefix: Optional[str] = None):
    """An onnxruntime CPU session of ``module`` traced on ``x``.

    Args:
        module (nn.Module): One tensor in, a tensor or tuple of tensors out.
        x (Tensor): The example input of the trace.
        threads (int): onnxruntime intra-op threads (inter-op: 1).
        workaround (bool): Export inside :func:`fixed_adaptive_pooling`.
        profile_prefix (str, optional): Turn on onnxruntime's per-node
            profiling, its file named with this prefix.

    Returns:
        onnxruntime.InferenceSession: On the CPU execution provider.
    """
    with tempfile.TemporaryDirectory(prefix='mmpose_lite_bench_') as tmp:  # the session keeps its own copy
        path = osp.join(tmp, 'model.onnx')
        with fixed_adaptive_pooling() if workaround else contextlib.nullcontext():
            trace_to_onnx(module, x, path)
        return _session(path, threads, profile_prefix)


def _export_for(entry, module: torch.nn.Module, x: torch.Tensor, path: str) -> Optional[str]:
    """Trace ``module`` on ``x`` into ``path``; a model-zoo model
    (``entry.source == 'mmpose'``) whose plain export fails on adaptive
    pooling is exported with :func:`fixed_adaptive_pooling` instead. Returns
    :data:`WORKAROUND_NOTE` then, else None."""
    try:
        with _quiet_stdout():
            trace_to_onnx(module, x, path)
        return None
    except Exception as e:  # noqa: BLE001
        if entry.source != 'mmpose' or 'adaptive' not in str(e):
            raise
    with fixed_adaptive_pooling():
        trace_to_onnx(module, x, path)
    return WORKAROUND_NOTE


def ort_session_for(entry, module: torch.nn.Module, x: torch.Tensor, threads: int,
                    profile_prefix: Optional[str] = None) -> Tuple[object, Optional[str]]:
    """:func:`ort_session` for a benchmark entry, exported by
    :func:`_export_for` (the workaround for a model-zoo model whose plain
    export fails on adaptive pooling).

    Returns:
        tuple: The session and a note for the row (:data:`WORKAROUND_NOTE`
        or None).
    """
    with tempfile.TemporaryDirectory(prefix='mmpose_lite_bench_') as tmp:
        path = osp.join(tmp, 'model.onnx')
        note = _export_for(entry, module, x, path)
        return _session(path, threads, profile_prefix), note


#: Calibration inputs of the benchmark's INT8 models: random, like its
#: timing input (latency does not depend on the calibrated ranges).
CALIB_INPUTS = 4


def ort_int8_session_for(entry, module: torch.nn.Module, x: torch.Tensor, threads: int,
                         profile_prefix: Optional[str] = None) -> Tuple[object, Optional[str]]:
    """The INT8 onnxruntime session of a benchmark entry, quantized the same
    way for every model (:func:`mmpose_lite.deploy.quantize.quantize_onnx`,
    its per-unit fp32 choices by the module's unit types), calibrated on
    :data:`CALIB_INPUTS` random inputs of ``x``'s shape, run by
    :func:`~mmpose_lite.deploy.quantize.int8_session`.

    Returns:
        tuple: The session and a note for the row (or None).
    """
    import numpy as np

    from mmpose_lite.deploy.quantize import int8_session, quantize_onnx
    rng = np.random.default_rng(0)
    calib = [rng.standard_normal(tuple(x.shape), dtype=np.float32) for _ in range(CALIB_INPUTS)]
    with tempfile.TemporaryDirectory(prefix='mmpose_lite_bench_int8_') as tmp:  # the session keeps its own copy
        path = osp.join(tmp, 'model.onnx')
        note = _export_for(entry, module, x, path)
        q = quantize_onnx(path, osp.join(tmp, 'model_int8.onnx'), calib, module=module)
        return int8_session(q['path'], threads, profile_prefix), note
