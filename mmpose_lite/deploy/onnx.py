"""ONNX export of any config's pose model, checked against PyTorch in onnxruntime."""
import argparse
import difflib
import os.path as osp
import re
import sys
import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from ..utils.files import atomic_output
from .fuse import traced_layout
from .model import TensorForward, build_pose_model, load_config

__all__ = ['trace_to_onnx', 'export_onnx', 'check_onnx', 'main', 'ModelConfigError', 'build_model_named',
           'check_runs_at']


class ModelConfigError(ValueError):
    """A config's model cannot be built (an unknown type, preset or
    argument); the message names the config, the name and close matches."""


def build_model_named(config: str, checkpoint: Optional[str] = None, deploy: bool = False):
    """:func:`~mmpose_lite.deploy.model.build_pose_model`, with an unknown
    type or preset name in the config reported as a
    :class:`ModelConfigError` that names the config and suggests the
    registered names closest to the unknown one."""
    try:
        return build_pose_model(config, checkpoint, deploy=deploy)
    except KeyError as e:
        message = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
        hint = ''
        unknown = re.search(r'(\S+) is not in the \S+ registry', message)
        if unknown:
            from mmpose.registry import MODELS
            names = set(MODELS.module_dict) | set(MODELS.parent.module_dict if MODELS.parent else ())
            close = difflib.get_close_matches(unknown.group(1), sorted(names), n=3)
            hint = f' Did you mean {" or ".join(repr(c) for c in close)}?' if close else ''
        raise ModelConfigError(f'{config}: its model cannot be built: {message}{hint}') from e


def check_runs_at(module: torch.nn.Module, x: torch.Tensor, config: str, default_size: Tuple[int, int]) -> None:
    """Run ``module`` once on ``x``; an input size it cannot take raises
    the backbone's :class:`~mmpose_lite.models.backbones.base.InputShapeError`
    (our backbones) or one naming the size and the config's own size
    (models that fail deeper inside)."""
    from mmpose_lite.models.backbones.base import InputShapeError
    h, w = x.shape[-2:]
    try:
        with torch.no_grad():
            module(x)
    except InputShapeError:
        raise
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputShapeError(f'{config}: the model does not run at input size {w}x{h} (W x H): {first}. Use the '
                              f'config\'s size {default_size[0]}x{default_size[1]}, or another multiple of 32 '
                              'in each dimension.') from e


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
                dynamic_spatial: bool = False, opset: int = 17, check: bool = True, atol: float = 1e-4,
                input_size: Optional[Tuple[int, int]] = None) -> dict:
    """Export ``config``'s pose model (backbone, neck, head; heatmaps out).

    The batch axis is always dynamic. ``dynamic_spatial`` also makes H and W
    dynamic; models whose graph depends on the input size (Lite-HRNet's and
    X-HRNet's pooling to the smallest branch, SUSA's stripe slicing) are
    traced with that size as a constant, and the check at a second size then
    fails with an error saying to export at a fixed size.

    ``input_size`` (w, h) exports at that size instead of the config's
    (the model is run at it first: a size it cannot take raises
    :class:`~mmpose_lite.models.backbones.base.InputShapeError` before
    anything is written).

    Returns:
        dict: ``path``, ``input_size`` (w, h), ``max_abs_diff`` (if checked).
    """
    model, (w, h), _ = build_model_named(config, checkpoint, deploy=deploy)
    module = TensorForward(model).eval()
    if input_size is not None:
        size = tuple(input_size)
        if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
            raise ValueError(f'input_size must be two positive ints (W, H), got {input_size!r}')
        check_runs_at(module, torch.randn(1, 3, size[1], size[0]), config, (w, h))
        w, h = size
    x = torch.randn(1, 3, h, w)
    with atomic_output(out) as tmp:  # never a half-written file under the final name
        trace_to_onnx(module, x, tmp, dynamic_spatial, opset)
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


def main(argv=None) -> int:
    """The ``mmpose-lite-export`` command (``--help``): a bad argument is
    argparse's usage error (exit status 2); success returns 0, the console
    script's exit status (:func:`export_onnx` returns the details)."""
    parser = argparse.ArgumentParser(description='Export a config\'s pose model to ONNX and check it in '
                                     'onnxruntime against PyTorch (max abs difference <= --atol); with --quantize '
                                     'int8 also its static INT8 model (onnxruntime QDQ) beside it.')
    parser.add_argument('config', help="config path, one of ours as 'mmpose_lite::body_2d_keypoint/...py', or an "
                        "installed MMPose config as 'mmpose::...'")
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--checkpoint', help='weights to load (default: random init)')
    parser.add_argument('--no-deploy', action='store_true', help='export the eval model without deploy rewrites')
    parser.add_argument('--dynamic-spatial', action='store_true', help='dynamic H and W as well as batch')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('W', 'H'),
                        help="export at this input size (default: the config's codec input_size)")
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--atol', type=float, default=1e-4)
    parser.add_argument('--quantize', choices=['int8'], help='also write a static INT8 model beside OUT '
                        '(OUT with _int8 before .onnx; onnxruntime QDQ, see mmpose_lite/deploy/quantize.py)')
    parser.add_argument('--calib-data', metavar='DATA', help='INT8 calibration images, run through the config\'s '
                        'val pipeline: a dataset config (its val set), a COCO keypoint file ANN.json[:IMG_DIR] or a '
                        'folder of images (whole-image boxes); default: the config\'s own val set')
    parser.add_argument('--calib-images', type=int, default=32, metavar='N', help='calibration images (default 32)')
    args = parser.parse_args(argv)
    # everything the user typed is checked before the model is built and traced
    from mmpose_lite.models.backbones.base import InputShapeError
    from mmpose_lite.utils.cli import ensure_writable_dir
    if args.input_size is not None and min(args.input_size) < 1:
        parser.error(f'--input-size {args.input_size[0]} {args.input_size[1]}: width and height must be positive')
    if not 7 <= args.opset <= 20:
        parser.error(f'--opset {args.opset}: give an ONNX opset in [7, 20] (default 17)')
    if not args.atol > 0:
        parser.error(f'--atol {args.atol}: must be positive')
    if args.quantize and args.calib_images < 1:
        parser.error(f'--calib-images {args.calib_images}: give at least 1')
    if args.quantize and args.no_deploy:
        parser.error('--quantize int8 quantizes the deploy form: leave out --no-deploy')
    if args.quantize and args.dynamic_spatial:
        parser.error('--quantize int8 exports at a fixed input size: leave out --dynamic-spatial')
    if not args.quantize and (args.calib_data or args.calib_images != 32):
        parser.error('--calib-data and --calib-images calibrate an INT8 model: add --quantize int8')
    try:
        load_config(args.config)
        if args.checkpoint and not osp.isfile(args.checkpoint):
            raise FileNotFoundError(f'--checkpoint {args.checkpoint} does not exist '
                                    f'(absolute: {osp.abspath(args.checkpoint)})')
        ensure_writable_dir(osp.dirname(osp.abspath(args.out)), 'output folder')
    except OSError as e:  # FileNotFoundError of the config or checkpoint, an unwritable folder
        parser.error(str(e))
    size = tuple(args.input_size) if args.input_size else None
    try:
        if args.quantize:
            from .quantize import export_int8
            res = export_int8(args.config, args.out, args.checkpoint, args.calib_data, args.calib_images, size,
                              args.opset)
        else:
            res = export_onnx(args.config, args.out, args.checkpoint, deploy=not args.no_deploy,
                              dynamic_spatial=args.dynamic_spatial, opset=args.opset, atol=args.atol,
                              input_size=size)
    except InputShapeError as e:
        parser.error(f'--input-size: {e}' if args.input_size else str(e))
    except (ModelConfigError, FileNotFoundError) as e:  # also calibration data that is not there
        parser.error(str(e))
    print(f"wrote {res['path']} (input {res['input_size'][0]}x{res['input_size'][1]}, dynamic batch); "
          f"onnxruntime vs PyTorch max abs diff {res['max_abs_diff']:.2e}")
    if args.quantize:
        print(f"wrote {res['int8_path']} (INT8, calibrated on {res['calib_images']} images, {res['fp32_nodes']} "
              f"nodes kept fp32); heatmap cosine to fp32 on them: mean {res['cosine_mean']:.4f}, min "
              f"{res['cosine_min']:.4f}. Run it with mmpose_lite.deploy.quantize.int8_session (onnxruntime "
              "without its NhwcTransformer: faster here)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
