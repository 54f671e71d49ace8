"""Lower precision on the CPU, measured against fp32 of the same checkpoint.

The precisions (:func:`runtimes`): the deploy form in PyTorch eager fp32 (the
reference), in eager bf16 (:class:`BF16Forward`), and the exported graph in
onnxruntime fp32 and INT8 (:mod:`.quantize`). Each maps a batch of network
inputs to the head's outputs. Two comparisons:

* :func:`coco_ap`: MMPose's evaluator (the config's ``val_evaluator``, e.g.
  ``CocoMetric``) on the config's val set, the predictions decoded by the
  model's own head and codec (:func:`predict_instances`);
* :func:`compare`: on images with GT boxes (COCO keypoint files, e.g. real
  photographs), the displacement in input pixels between each precision's
  decoded keypoints and fp32's, and the cosine similarity of their heatmaps.

``python tools/precision_report.py`` prints both tables (:func:`report`, :func:`main`).
"""
import argparse
import contextlib
import io
import os.path as osp
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ['BF16Forward', 'PRECISIONS', 'CONFIDENT', 'heatmap_cosine', 'keypoint_displacement', 'predict_instances',
           'runtimes', 'coco_ap', 'compare', 'report', 'main']

#: The precisions, in table order; the first is the reference.
PRECISIONS = ('fp32', 'bf16', 'ort-fp32', 'int8')


class BF16Forward(nn.Module):
    """``module`` run under ``torch.autocast('cpu', dtype=torch.bfloat16)``,
    its outputs returned as float32 (a tensor, or a tuple of them).

    Autocast runs convolutions and matrix products in bf16 and keeps
    softmax, LayerNorm and reductions in fp32 (PyTorch's CPU autocast lists).

    Example:
        >>> conv = nn.Conv2d(3, 4, 3, padding=1)
        >>> out = BF16Forward(conv)(torch.randn(1, 3, 8, 8))
        >>> out.dtype, tuple(out.shape)
        (torch.float32, (1, 4, 8, 8))
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = self.module(x)
        if isinstance(out, (tuple, list)):
            return tuple(o.float() for o in out)
        return out.float()


def _arrays(out) -> List[np.ndarray]:
    return [o.detach().float().cpu().numpy() if isinstance(o, torch.Tensor) else np.asarray(o)
            for o in (out if isinstance(out, (tuple, list)) else (out, ))]


def heatmap_cosine(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> np.ndarray:
    """Per instance, the cosine similarity of two runs' outputs (every
    output of the instance flattened into one vector).

    Example:
        >>> a = [np.ones((2, 17, 8, 6), np.float32)]
        >>> heatmap_cosine(a, [2 * a[0]]).round(6).tolist()
        [1.0, 1.0]
    """
    fa = np.concatenate([np.asarray(o, np.float64).reshape(len(o), -1) for o in a], axis=1)
    fb = np.concatenate([np.asarray(o, np.float64).reshape(len(o), -1) for o in b], axis=1)
    norm = np.linalg.norm(fa, axis=1) * np.linalg.norm(fb, axis=1)
    return (fa * fb).sum(1) / np.maximum(norm, 1e-30)


def keypoint_displacement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance between matching keypoints ``(..., K, 2)``, flat."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1).ravel()


@contextlib.contextmanager
def _head_outputs(head: nn.Module, outputs):
    """Inside the block, this one head's ``forward`` returns ``outputs``
    (an attribute of this instance only, removed on exit)."""
    head.forward = lambda feats: outputs
    try:
        yield
    finally:
        del head.forward


def predict_instances(model: nn.Module, outputs: Sequence[np.ndarray]) -> list:
    """Decode head outputs with the model's own head and codec (its
    ``predict``, flip test off): one ``InstanceData`` per image with
    ``keypoints`` ``(1, K, 2)`` in input-image pixels and ``keypoint_scores``."""
    tensors = [torch.from_numpy(np.ascontiguousarray(o)) for o in outputs]
    out = tensors[0] if len(tensors) == 1 else list(tensors)
    with _head_outputs(model.head, out), torch.no_grad():
        preds = model.head.predict((tensors[0], ), None, test_cfg=dict(flip_test=False))
    return preds[0] if isinstance(preds, tuple) else preds


def runtimes(module: nn.Module, input_size: Sequence[int], calib_inputs: Sequence[np.ndarray], tmp: str,
             precisions: Sequence[str] = PRECISIONS,
             threads: Optional[int] = None) -> Dict[str, Callable[[torch.Tensor], List[np.ndarray]]]:
    """The precisions of one model: name -> ``f(inputs) -> [outputs]``.

    Args:
        module (nn.Module): The deployed pose model's tensor-in, heatmaps-out
            wrapper (:class:`~mmpose_lite.deploy.model.TensorForward`); the
            onnxruntime precisions run its own trace (checked against it).
        input_size (Sequence[int]): ``(w, h)`` of the traced graph.
        calib_inputs (Sequence[ndarray]): INT8 calibration batches.
        tmp (str): Folder for the exported graphs.
        precisions (Sequence[str]): Which of :data:`PRECISIONS`.
        threads (int, optional): onnxruntime threads.

    Raises:
        ValueError: An unknown precision (the message lists the valid ones).
    """
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        raise ValueError(f'precisions {unknown}: valid: {list(PRECISIONS)}')
    out: Dict[str, Callable] = {}
    if 'fp32' in precisions:
        out['fp32'] = lambda x: _arrays(module(x))
    if 'bf16' in precisions:
        bf16 = BF16Forward(module)
        out['bf16'] = lambda x: _arrays(bf16(x))
    if 'ort-fp32' in precisions or 'int8' in precisions:
        import onnxruntime as ort

        from .onnx import check_onnx, trace_to_onnx
        from .quantize import int8_session, quantize_onnx
        path = osp.join(tmp, 'fp32.onnx')
        x = torch.randn(1, 3, input_size[1], input_size[0])
        trace_to_onnx(module, x, path)
        check_onnx(path, module, [x])
        if 'ort-fp32' in precisions:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads or torch.get_num_threads()
            sess = ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'])
            out['ort-fp32'] = lambda x, s=sess: s.run(None, {'input': x.numpy()})
        if 'int8' in precisions:
            q = quantize_onnx(path, osp.join(tmp, 'int8.onnx'), calib_inputs, module=module)
            sess8 = int8_session(q['path'], threads)
            out['int8'] = lambda x, s=sess8: s.run(None, {'input': x.numpy()})
    return {p: out[p] for p in precisions}


def coco_ap(model: nn.Module, cfg, dataset, run: Dict[str, Callable], batch_size: int = 16) -> Dict[str, Dict]:
    """Each precision's metrics from the config's ``val_evaluator`` (MMEngine's
    ``Evaluator``, e.g. MMPose's ``CocoMetric``) on ``dataset``, the
    predictions decoded by :func:`predict_instances` and mapped back to the
    image by the model's ``add_pred_to_datasample``."""
    from mmengine.evaluator import Evaluator

    from .data import batches
    samples = [dataset[i] for i in range(len(dataset))]
    results = {}
    for name, fn in run.items():
        evaluator = Evaluator(cfg.val_evaluator)
        evaluator.dataset_meta = dataset.metainfo
        for inputs, data_samples, batch in batches(samples, model, batch_size):
            with torch.no_grad():
                preds = predict_instances(model, fn(inputs))
            data_samples = model.add_pred_to_datasample(preds, None, data_samples)
            evaluator.process(data_samples=data_samples, data_batch=batch)
        with contextlib.redirect_stdout(io.StringIO()):  # xtcocotools prints its whole summary
            results[name] = evaluator.evaluate(len(samples))
    return results


#: fp32 keypoint score from which a keypoint counts as confident in :func:`compare`.
CONFIDENT = 0.3


def compare(model: nn.Module, samples: Sequence[dict], run: Dict[str, Callable], reference: str = 'fp32',
            batch_size: int = 16) -> Dict[str, Dict[str, float]]:
    """Each precision against ``reference`` on ``samples``.

    Returns:
        dict: Per precision: keypoint displacement in input pixels over every
        keypoint of every instance (``mean_px``, ``median_px``, ``p95_px``,
        ``max_px``) and over the keypoints ``reference`` scores at least
        :data:`CONFIDENT` (``mean_px_confident``, ``confident``: how many);
        heatmap cosine similarity per instance (``cos_mean``, ``cos_min``);
        ``instances``; ``finite`` (every output finite).
    """
    from .data import batches
    outputs: Dict[str, List] = {name: [] for name in run}
    keypoints: Dict[str, List] = {name: [] for name in run}
    scores: List[np.ndarray] = []
    for inputs, _, _ in batches(samples, model, batch_size):
        for name, fn in run.items():
            with torch.no_grad():
                out = [np.asarray(o, np.float32) for o in fn(inputs)]
            outputs[name].append(out)
            preds = predict_instances(model, out)
            keypoints[name].append(np.concatenate([p.keypoints for p in preds]))
            if name == reference:
                scores.append(np.concatenate([p.keypoint_scores for p in preds]).ravel())
    confident = np.concatenate(scores) >= CONFIDENT
    table = {}
    for name in run:
        d = keypoint_displacement(np.concatenate(keypoints[name]), np.concatenate(keypoints[reference]))
        cos = np.concatenate([heatmap_cosine(a, b) for a, b in zip(outputs[name], outputs[reference])])
        table[name] = dict(instances=len(cos), mean_px=float(d.mean()), median_px=float(np.median(d)),
                           p95_px=float(np.percentile(d, 95)), max_px=float(d.max()),
                           mean_px_confident=float(d[confident].mean()) if confident.any() else None,
                           confident=int(confident.sum()), cos_mean=float(cos.mean()), cos_min=float(cos.min()),
                           finite=bool(all(np.isfinite(o).all() for batch in outputs[name] for o in batch)))
    return table


def report(config: str, checkpoint: Optional[str], real: Sequence[str] = (), ap: bool = True,
           calib_data: Optional[str] = None, calib_images: int = 32, precisions: Sequence[str] = PRECISIONS,
           max_instances: Optional[int] = None, batch_size: int = 16, threads: Optional[int] = None) -> Dict:
    """Both comparisons for one config and checkpoint (see the module
    docstring); returns ``{'ap': {precision: metrics}, 'real': {source:
    {precision: stats}}, 'input_size': (w, h)}`` and prints the tables.

    Args:
        config (str): The model's config; its val set gives the AP and (by
            default) the INT8 calibration images.
        checkpoint (str, optional): The weights (random init without).
        real (Sequence[str]): Images to compare on: COCO keypoint files
            ``ANN.json[:IMG_DIR]`` (GT boxes), dataset configs or folders
            (see :func:`.data.samples_from`).
        ap (bool): Also evaluate the config's val set.
        calib_data (str, optional): INT8 calibration images (a dataset
            config, ``ANN.json[:IMG_DIR]`` or a folder). Default: ``config``.
        calib_images (int): How many.
        precisions (Sequence[str]): Which of :data:`PRECISIONS` (the first
            is the reference of the displacements).
        max_instances (int, optional): At most this many persons per ``real``
            file (spread over it).
        batch_size (int): Images per forward.
        threads (int, optional): onnxruntime threads.
    """
    from mmpose_lite.benchmark.timing import format_table
    from .data import config_dataset, model_inputs, samples_from, val_pipeline
    from .model import TensorForward
    from .onnx import build_model_named
    model, size, cfg = build_model_named(config, checkpoint, deploy=True)
    module = TensorForward(model).eval()
    pipeline = val_pipeline(cfg)
    calib = model_inputs(samples_from(calib_data or config, pipeline, calib_images), model, batch_size=1) \
        if 'int8' in precisions else []
    out: Dict = dict(ap={}, real={}, input_size=tuple(size))
    with tempfile.TemporaryDirectory(prefix='mmpose_lite_precision_') as tmp:
        run = runtimes(module, size, calib, tmp, precisions, threads)
        if ap:
            out['ap'] = coco_ap(model, cfg, config_dataset(config, pipeline), run, batch_size)
        for source in real:
            samples = samples_from(source, pipeline, max_instances)
            out['real'][source] = compare(model, samples, run, reference=precisions[0], batch_size=batch_size)
    ref = precisions[0]
    if out['ap']:
        key = next((k for k in out['ap'][ref] if k.endswith('/AP')), None)
        rows = [dict(precision=p, ap=100 * m[key], drop=100 * (out['ap'][ref][key] - m[key]),
                     ap50=100 * m.get(key + ' .5', float('nan'))) for p, m in out['ap'].items()] if key else []
        print(f'\n{osp.basename(config)}: val set AP ({key}, %) per precision\n')
        print(format_table(rows, ['precision', 'ap', 'drop', 'ap50'], ['precision', 'AP', f'AP drop vs {ref}',
                                                                      'AP .5']))
    rows = [dict(st, source=osp.basename(s.partition(':')[0]), precision=p, cos_mean=f"{st['cos_mean']:.4f}",
                 cos_min=f"{st['cos_min']:.4f}") for s, t in out['real'].items() for p, st in t.items() if p != ref]
    if rows:
        w, h = size
        print(f'\n{osp.basename(config)}: against {ref} on GT boxes, keypoint displacement in input pixels '
              f'({w}x{h} input), heatmap cosine similarity per instance\n')
        cols = ['source', 'precision', 'instances', 'mean_px', 'median_px', 'p95_px', 'max_px', 'mean_px_confident',
                'confident', 'cos_mean', 'cos_min', 'finite']
        print(format_table(rows, cols, ['data', 'precision', 'persons', 'mean px', 'median px', 'p95 px', 'max px',
                                        f'mean px (fp32 score >= {CONFIDENT})', 'keypoints', 'cosine mean',
                                        'cosine min', 'finite']))
    return out


def main(argv=None) -> int:
    """``python tools/precision_report.py`` (``--help``)."""
    parser = argparse.ArgumentParser(description='Accuracy of bf16 eager and INT8 onnxruntime against fp32 of the '
                                     'same checkpoint: val-set AP per precision (the config\'s evaluator), and on '
                                     'images with GT boxes the keypoint displacement and heatmap cosine similarity.')
    parser.add_argument('config', help="model config (path, 'mmpose_lite::...' or 'mmpose::...')")
    parser.add_argument('checkpoint', nargs='?', help='weights (default: random init, plumbing only)')
    parser.add_argument('--real', nargs='+', default=[], metavar='ANN.json[:IMG_DIR]',
                        help='COCO keypoint files to compare on (images beside the file unless :IMG_DIR)')
    parser.add_argument('--skip-ap', action='store_true', help="skip the config's val-set AP")
    parser.add_argument('--calib-data', help='INT8 calibration images: dataset config, ANN.json[:IMG_DIR] or a '
                        'folder (default: the config\'s val set)')
    parser.add_argument('--calib-images', type=int, default=32)
    parser.add_argument('--precisions', nargs='+', default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument('--max-instances', type=int, help='at most N persons per --real file')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--threads', type=int, help='torch and onnxruntime threads (default: torch\'s)')
    args = parser.parse_args(argv)
    if args.calib_images < 1 or args.batch_size < 1 or (args.max_instances is not None and args.max_instances < 1):
        parser.error('--calib-images, --batch-size and --max-instances must be >= 1')
    if args.skip_ap and not args.real:
        parser.error('nothing to do: give --real files, or leave out --skip-ap')
    if args.checkpoint and not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint {args.checkpoint} does not exist')
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        report(args.config, args.checkpoint, args.real, not args.skip_ap, args.calib_data, args.calib_images,
               args.precisions, args.max_instances, args.batch_size, args.threads)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    return 0


if __name__ == '__main__':
    sys.exit(main())
