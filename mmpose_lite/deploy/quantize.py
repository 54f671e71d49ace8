"""INT8 static quantization of an exported pose model with onnxruntime's tools.

Recipe (every step measured on this project's CPU, see ``docs/benchmark.md``):

1. The fp32 ONNX graph (:func:`~mmpose_lite.deploy.onnx.export_onnx`) goes
   through onnxruntime's ``quant_pre_process`` (ONNX shape inference and
   onnxruntime's basic graph optimisations, as its docs recommend).
2. :func:`split_nearest_upsampling`: a nearest ``Resize`` by 4 or 8 becomes
   2 or 3 ``Resize`` by 2 (the same values): onnxruntime runs a 2x nearest
   resize through a fast special case and larger factors through a generic
   loop, which costs more in the INT8 graph than in the fp32 one (where the
   NCHWc ``Upsample`` takes them).
3. ``onnxruntime.quantization.quantize_static`` in QDQ format, weights int8
   per output channel (symmetric), activations uint8 (the U8S8 pair is
   onnxruntime's fast x86 path; S8S8 measured ~1.9x slower), MinMax
   calibration on images run through the config's own val pipeline
   (:mod:`.data`).
4. Per unit (module type), the operator types listed in :data:`KEEP_FP32`
   stay fp32 (``nodes_to_exclude``), found by the module's path in the
   node names (:func:`fp32_nodes`).

Run the result with :func:`int8_session` (onnxruntime with its
``NhwcTransformer`` off: with it, the int8 convolutions run NHWC, and the
transposes and NHWC resizes around them cost more than they save here).
"""
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..utils.files import atomic_output

__all__ = ['KEEP_FP32', 'INT8_SUFFIX', 'DISABLED_OPTIMIZERS', 'int8_path', 'split_nearest_upsampling',
           'module_path_of_node', 'fp32_nodes', 'quantize_onnx', 'int8_session', 'export_int8']

#: The INT8 model's file name is the fp32 one's with this before ``.onnx``.
INT8_SUFFIX = '_int8'

#: onnxruntime optimizers an INT8 session runs without (see the module docstring).
DISABLED_OPTIMIZERS = ('NhwcTransformer', )

#: Per module type (class name), the ONNX operator types that stay fp32 in
#: its part of the INT8 graph (``'*'``: all of them). Everything else is
#: quantized: convolutions, element-wise products and sums, sigmoid gates,
#: concatenations and pooling run in int8. Measured on this project's CPU
#: (``docs/benchmark.md``, "Deploy precision"), by :func:`quantize_onnx`
#: with other ``policy`` tables: X-HRNet's SUSA (pooling and context as small
#: matrix products, a softmax over one axis, a row-wise LayerNorm, a
#: broadcast gate) is faster entirely in fp32 (the X-HRNet-S18 graph: 23.2 ms
#: against 24.9 ms with only its products, softmax and LayerNorm in fp32, one
#: thread) and as accurate (heatmap cosine to fp32 0.771 vs 0.770); the
#: iterative head, the last features before the heatmap convolution (sparse
#: ReLU outputs that one uint8 scale resolves badly), stays fp32 for
#: accuracy (cosine 0.82 vs 0.77, for 1-2% of the time). Lite-HRNet's units
#: (cross-resolution and spatial weighting: pooling, 1x1 convolutions,
#: sigmoid gates) are fully quantized: fastest, and no fp32 choice measured
#: better. Units not measured keep their softmax and LayerNorm in fp32, by
#: the same reasoning (normalisations over few values).
KEEP_FP32: Dict[str, Tuple[str, ...]] = {
    'SUSA': ('*', ),
    'HWSUSA': ('*', ),
    'IterativeHead': ('*', ),
    'PSAChannel': ('Softmax', 'LayerNormalization'),
    'PSASpatial': ('Softmax', ),
    'SlideAttention': ('Softmax', ),
    'GlobalSelfAttention': ('Softmax', ),
}


def int8_path(fp32_path: str) -> str:
    """``model.onnx`` -> ``model_int8.onnx`` (beside it)."""
    root, ext = osp.splitext(fp32_path)
    return f'{root}{INT8_SUFFIX}{ext or ".onnx"}'


def split_nearest_upsampling(model) -> int:
    """Rewrite, in place, every nearest ``Resize`` of an ``onnx.ModelProto``
    whose constant scales are ``(1, 1, s, s)`` with ``s`` 4 or 8 into
    ``log2(s)`` nearest resizes by 2 (the same values: ``floor(floor(i/2)/2)
    = floor(i/4)``). Returns how many were rewritten."""
    from onnx import helper, numpy_helper
    graph = model.graph
    consts = {i.name: i for i in graph.initializer}
    consts.update({n.output[0]: n.attribute[0].t for n in graph.node if n.op_type == 'Constant' and n.attribute})
    two = 'mmpose_lite_nearest_scales_2'
    nodes, count = [], 0
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        scales = consts.get(node.input[2]) if node.op_type == 'Resize' and len(node.input) > 2 else None
        s = numpy_helper.to_array(scales).tolist() if scales is not None else None
        if (s is None or attrs.get('mode', b'nearest') != b'nearest' or len(s) != 4 or s[:2] != [1, 1]
                or s[2] != s[3] or s[2] not in (4.0, 8.0)
                or attrs.get('coordinate_transformation_mode', b'half_pixel') != b'asymmetric'
                or attrs.get('nearest_mode', b'round_prefer_floor') != b'floor'):
            nodes.append(node)
            continue
        steps, x = int(np.log2(s[2])), node.input[0]
        for i in range(steps):
            out = node.output[0] if i == steps - 1 else f'{node.output[0]}_x2_{i}'
            nodes.append(helper.make_node('Resize', [x, '', two], [out], name=f'{node.name}_x2_{i}', mode='nearest',
                                          coordinate_transformation_mode='asymmetric', nearest_mode='floor'))
            x = out
        count += 1
    if count:
        graph.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), two))
        del graph.node[:]
        graph.node.extend(nodes)
    return count


def module_path_of_node(name: str) -> str:
    """The dotted module path of an ONNX node from the TorchScript exporter's
    scoped name: ``/model/backbone/stage0/stage0.0/layers.1/layers.1.0/
    branch2/branch2.0/MatMul`` -> ``model.backbone.stage0.0.layers.1.0.
    branch2.0`` (a scope that repeats its parent's name adds only the rest)."""
    parts: List[str] = []
    prev = ''
    for token in name.strip('/').split('/')[:-1]:
        parts.append(token[len(prev) + 1:] if prev and token.startswith(prev + '.') else token)
        prev = token
    return '.'.join(parts)


def fp32_nodes(onnx_model, module: torch.nn.Module, policy: Optional[Dict[str, Sequence[str]]] = None,
               prefix: str = '') -> List[str]:
    """Names of the nodes that stay fp32: those of the op types ``policy``
    (default :data:`KEEP_FP32`) lists for the unit whose module they belong
    to (``'*'``: every op type). ``module`` is what was traced; ``prefix``
    its name in the node scopes."""
    policy = KEEP_FP32 if policy is None else policy
    units = {(prefix + '.' + name).strip('.'): tuple(policy[type(m).__name__]) for name, m in module.named_modules()
             if type(m).__name__ in policy and name}
    out = []
    for node in onnx_model.graph.node:
        path = module_path_of_node(node.name)
        while path:
            if path in units:
                if node.op_type in units[path] or '*' in units[path]:
                    out.append(node.name)
                break
            path = path.rpartition('.')[0]
    return out


def _reader(name: str, inputs: Sequence[np.ndarray]):
    """An onnxruntime ``CalibrationDataReader`` over a list of inputs."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):

        def __init__(self):
            self._it = iter([{name: x} for x in inputs])

        def get_next(self):
            return next(self._it, None)

    return Reader()


def quantize_onnx(fp32_path: str, out_path: str, calib_inputs: Sequence[np.ndarray],
                  module: Optional[torch.nn.Module] = None, policy: Optional[Dict[str, Sequence[str]]] = None,
                  op_types: Optional[Sequence[str]] = None, method: str = 'MinMax') -> Dict:
    """Quantize the fp32 graph ``fp32_path`` into ``out_path`` (steps 1-4 of
    the module docstring).

    Args:
        fp32_path (str): The exported fp32 model (one input).
        out_path (str): The INT8 model (written atomically).
        calib_inputs (Sequence[ndarray]): Calibration batches, float32 NCHW,
            made by the model's val pipeline (:func:`.data.model_inputs`).
        module (nn.Module, optional): The traced module, to find the units'
            nodes for ``policy``; without it every node is quantized.
        policy (dict, optional): Unit type -> op types kept fp32. Default
            :data:`KEEP_FP32`.
        op_types (Sequence[str], optional): Op types to quantize. Default:
            onnxruntime's full list.
        method (str): ``'MinMax'``, ``'Percentile'`` or ``'Entropy'``
            (onnxruntime's ``CalibrationMethod``).

    Returns:
        dict: ``path``, ``fp32_nodes`` (count kept fp32), ``resizes_split``.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    if not calib_inputs:
        raise ValueError('no calibration input: give at least one image (--calib-images >= 1)')
    if method not in CalibrationMethod.__members__:
        raise ValueError(f'calibration method {method!r}: valid: {list(CalibrationMethod.__members__)}')
    with tempfile.TemporaryDirectory(prefix='mmpose_lite_quant_') as tmp:
        pre = osp.join(tmp, 'pre.onnx')
        quant_pre_process(fp32_path, pre, skip_symbolic_shape=True)
        model = onnx.load(pre)
        split = split_nearest_upsampling(model)
        excluded = fp32_nodes(model, module, policy) if module is not None else []
        onnx.save(model, pre)
        name = model.graph.input[0].name
        with atomic_output(out_path) as part:
            quantize_static(pre, part, _reader(name, calib_inputs), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=list(op_types) if op_types else None, nodes_to_exclude=excluded,
                            calibrate_method=CalibrationMethod[method])
    return dict(path=out_path, fp32_nodes=len(excluded), resizes_split=split)


def int8_session(path: str, threads: Optional[int] = None, profile_prefix: Optional[str] = None):
    """An onnxruntime CPU session for an INT8 model, without
    :data:`DISABLED_OPTIMIZERS` (intra-op ``threads``, default torch's;
    inter-op 1; per-node profiling into ``profile_prefix`` if given)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.inter_op_num_threads = 1
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    return ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'],
                                disabled_optimizers=list(DISABLED_OPTIMIZERS))


def export_int8(config: str, out: str, checkpoint: Optional[str] = None, calib_data: Optional[str] = None,
                calib_images: int = 32, input_size: Optional[Tuple[int, int]] = None, opset: int = 17,
                method: str = 'MinMax', policy: Optional[Dict[str, Sequence[str]]] = None) -> Dict:
    """Export ``config``'s deploy form to ``out`` (fp32, checked against
    PyTorch) and its INT8 model beside it (:func:`int8_path`), calibrated on
    ``calib_images`` images of ``calib_data`` (a dataset config, a COCO
    annotation file or a folder; default the config itself) run through the
    config's val pipeline; then compare the two on those images.

    Returns:
        dict: :func:`~mmpose_lite.deploy.onnx.export_onnx`'s result, with
        ``int8_path``, ``calib_images``, ``fp32_nodes``, ``cosine_min`` and
        ``cosine_mean`` (INT8 vs fp32 heatmaps per instance).
    """
    import onnxruntime as ort

    from .data import model_inputs, samples_from, val_pipeline
    from .model import TensorForward
    from .onnx import build_model_named, export_onnx
    from .precision import heatmap_cosine
    if calib_images < 1:
        raise ValueError(f'calib_images {calib_images}: give at least 1')
    model, _, cfg = build_model_named(config, checkpoint, deploy=True)
    pipeline = val_pipeline(cfg)
    if input_size is not None:
        for t in pipeline:
            if 'input_size' in t:
                t['input_size'] = tuple(input_size)
    samples = samples_from(calib_data or config, pipeline, calib_images)
    inputs = model_inputs(samples, model, batch_size=1)
    res = export_onnx(config, out, checkpoint, deploy=True, opset=opset, input_size=input_size)
    q = quantize_onnx(out, int8_path(out), inputs, module=TensorForward(model), policy=policy, method=method)
    fp32, int8 = ort.InferenceSession(out, providers=['CPUExecutionProvider']), int8_session(q['path'])
    cos = np.concatenate([heatmap_cosine(fp32.run(None, {'input': x}), int8.run(None, {'input': x}))
                          for x in inputs])
    res.update(int8_path=q['path'], calib_images=len(inputs), fp32_nodes=q['fp32_nodes'],
               cosine_min=float(cos.min()), cosine_mean=float(cos.mean()))
    return res
