"""ONNX export of any config's pose model, checked against PyTorch in onnxruntime."""
import argparse
import os
import os.path as osp
import warnings
from typing import Optional, Sequence

import numpy as np
import torch

from .fuse import traced_layout
from .model import TensorForward, build_pose_model

__all__ = ['trace_to_onnx', 'export_onnx', 'check_onnx', 'main']


def _outputs(out):
    return [o.detach().cpu().numpy() for o in (out if isinstance(out, tuple) else (out, ))]


def check_onnx(path: str, module: torch.nn.Module, inputs: Sequence[torch.Tensor], atol: float = 1e-4) -> float:
    """Run ``path`` in onnxruntime on each input; the largest abs difference to
    ``module``. Raises ``AssertionError`` above ``atol``."""
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    name = sess.get_inputs()[0].name
    worst = 0.0
    for x in inputs:
        with torch.no_grad():
            ref = _outputs(module(x))
        got = sess.run(None, {name: x.cpu().numpy()})
        if len(got) != len(ref):
            raise AssertionError(f'{path}: {len(got)} outputs, PyTorch gives {len(ref)}')
        for g, r in zip(got, ref):
            if g.shape != r.shape:
                raise AssertionError(f'{path}: output shape {g.shape} vs PyTorch {r.shape} for input '
                                     f'{tuple(x.shape)}')
            worst = max(worst, float(np.abs(g - r).max()))
    if worst > atol:
        raise AssertionError(f'{path}: onnxruntime differs from PyTorch by {worst:.2e} > {atol:.0e}')
    return worst


def trace_to_onnx(module: torch.nn.Module, x: torch.Tensor, path: str, dynamic_spatial: bool = False,
                  opset: int = 17) -> None:
    """Trace ``module`` (one tensor in, a tensor or tuple of heatmap tensors
    out) on ``x`` into the ONNX file ``path``, in NCHW (see
    :func:`~mmpose_lite.deploy.traced_layout`), batch axis dynamic, and H, W
    too with ``dynamic_spatial``."""
    axes = {0: 'batch'}
    if dynamic_spatial:
        axes.update({2: 'height', 3: 'width'})
    with torch.no_grad(), warnings.catch_warnings(), traced_layout(module):
        warnings.simplefilter('ignore')
        n_out = len(_outputs(module(x)))
        names = ['heatmaps'] if n_out == 1 else [f'heatmaps_{i}' for i in range(n_out)]
        torch.onnx.export(module, (x, ), path, dynamo=False, opset_version=opset, input_names=['input'],
                          output_names=names, dynamic_axes={'input': axes, **{n: {0: 'batch'} for n in names}},
                          do_constant_folding=True)


def export_onnx(config: str, out: str, checkpoint: Optional[str] = None, deploy: bool = True,
                dynamic_spatial: bool = False, opset: int = 17, check: bool = True, atol: float = 1e-4) -> dict:
    """Export ``config``'s pose model (backbone, neck, head; heatmaps out).

    The batch axis is always dynamic. ``dynamic_spatial`` also makes H and W
    dynamic; models whose graph depends on the input size (Lite-HRNet's and
    X-HRNet's pooling to the smallest branch, SUSA's stripe resampling) are
    traced with that size as a constant, and the check at a second size then
    fails with an error saying to export at a fixed size.

    Returns:
        dict: ``path``, ``input_size`` (w, h), ``max_abs_diff`` (if checked).
    """
    model, (w, h), _ = build_pose_model(config, checkpoint, deploy=deploy)
    module = TensorForward(model).eval()
    x = torch.randn(1, 3, h, w)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    tmp = out + '.part'  # never leave a half-written file under the final name
    trace_to_onnx(module, x, tmp, dynamic_spatial, opset)
    os.replace(tmp, out)
    result = dict(path=out, input_size=(w, h))
    if check:
        inputs = [x, torch.randn(2, 3, h, w)]
        if dynamic_spatial:
            inputs.append(torch.randn(1, 3, h + 32, w + 32))
        try:
            result['max_abs_diff'] = check_onnx(out, module, inputs, atol)
        except Exception as e:
            if dynamic_spatial:
                raise RuntimeError(f'{config}: the exported graph does not generalise to other input sizes '
                                   f'({e}); this model computes sizes from its input, export it without '
                                   f'--dynamic-spatial (a fixed {w}x{h} input)') from e
            raise
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description='Export a config\'s pose model to ONNX and check it in '
                                     'onnxruntime against PyTorch (max abs difference <= --atol).')
    parser.add_argument('config', help="config path, or an installed MMPose config as 'mmpose::...'")
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--checkpoint', help='weights to load (default: random init)')
    parser.add_argument('--no-deploy', action='store_true', help='export the eval model without deploy rewrites')
    parser.add_argument('--dynamic-spatial', action='store_true', help='dynamic H and W as well as batch')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--atol', type=float, default=1e-4)
    args = parser.parse_args(argv)
    res = export_onnx(args.config, args.out, args.checkpoint, deploy=not args.no_deploy,
                      dynamic_spatial=args.dynamic_spatial, opset=args.opset, atol=args.atol)
    print(f"wrote {res['path']} (input {res['input_size'][0]}x{res['input_size'][1]}, dynamic batch); "
          f"onnxruntime vs PyTorch max abs diff {res['max_abs_diff']:.2e}")
    return res


if __name__ == '__main__':
    main()
