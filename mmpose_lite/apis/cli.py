"""``mmpose-lite-infer``: poses on an image, a folder of images or a video.

A thin front end over MMPose's ``MMPoseInferencer`` (see
:mod:`mmpose_lite.apis.inference`): it checks its arguments and inputs
before any model is built, never downloads anything (a person detector is
chosen explicitly), shows a progress bar for folders and videos, and writes
into ``--out-dir``::

    visualizations/<image name>.png      the poses drawn on each image
    visualizations/<video file name>     the video with the poses drawn
    predictions/<name>.json              MMPose's predictions: per person
                                         "keypoints" [[x, y] x K],
                                         "keypoint_scores", "bbox", "bbox_score"
                                         (a video: [{"frame_id", "instances"}])

Examples (CFG: a config file, or one of this package's by name, e.g.
``mmpose_lite::body_2d_keypoint/topdown_heatmap/synthetic/td-hm_xhrnet-s18_demo_synthcoco-128x96.py``)::

    mmpose-lite-infer photo.jpg --config CFG --checkpoint CKPT --whole-image --out-dir out
    mmpose-lite-infer photos/ --config CFG --checkpoint CKPT --boxes boxes.json --out-dir out
    mmpose-lite-infer clip.mp4 --config CFG --checkpoint CKPT \\
        --det-config rtmdet_tiny_8xb32-300e_coco.py --det-checkpoint rtmdet_tiny.pth --out-dir out

Box file (``--boxes``): a JSON object mapping an image's file name to its
person boxes ``[x1, y1, x2, y2]`` or ``[x1, y1, x2, y2, score]`` (pixels), and
a video's file name to one such list per frame::

    {"photo.jpg": [[10, 20, 200, 400]], "clip.mp4": [[[10, 20, 200, 400]], [], ...]}

An image (or frame) with no box left (none given, none detected, none above
``--bbox-thr``) gets one pose for the whole image, as MMPose's inferencer does.
"""
import argparse
import os.path as osp
import pickle
import sys
from typing import List, Optional, Tuple

from mmpose_lite.utils.cli import ensure_writable_dir

PROG = 'mmpose-lite-infer'


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f'must be in [0, 1], got {value}')
    return value


def parse_args(argv: Optional[List[str]] = None) -> Tuple[argparse.Namespace, argparse.ArgumentParser]:
    """The arguments, checked before any model is built (exit status 2 with
    a message naming the argument otherwise): files present, exactly one
    source of person boxes, the device available, thresholds in [0, 1].

    Returns:
        tuple: The arguments and the parser (for later usage errors).
    """
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('input', help='an image, a folder of images (not searched recursively) or a video file')
    p.add_argument('--config', required=True,
                   help="pose config: a .py file, or one of this package's as 'mmpose_lite::<path under its configs>'")
    p.add_argument('--checkpoint', required=True, help='pose checkpoint (.pth) trained with that config')
    boxes = p.add_argument_group('person boxes (choose one)')
    boxes.add_argument('--det-config', help='MMDetection config file of a person detector (with --det-checkpoint)')
    boxes.add_argument('--det-checkpoint', help='the detector\'s checkpoint file')
    boxes.add_argument('--det-cat-id', type=int, default=0, help='the detector\'s person label (default: 0, COCO)')
    boxes.add_argument('--boxes', metavar='FILE', help='JSON file of person boxes per image (format above)')
    boxes.add_argument('--whole-image', action='store_true', help='each image or frame is one person\'s box')
    p.add_argument('--out-dir', required=True, help='where visualizations/ and predictions/ are written')
    p.add_argument('--device', default=None, help='cpu, cuda or cuda:N (default: cuda if available, else cpu)')
    p.add_argument('--bbox-thr', type=_fraction, default=0.3, help='keep boxes scoring above this (default 0.3)')
    p.add_argument('--nms-thr', type=_fraction, default=0.3,
                   help='IoU above which the lower-scoring of two detected boxes is dropped (default 0.3)')
    p.add_argument('--kpt-thr', type=_fraction, default=0.3, help='draw keypoints scoring above this (default 0.3)')
    p.add_argument('--draw-bbox', action='store_true', help='draw the person boxes too')
    p.add_argument('--progress', action=argparse.BooleanOptionalAction, default=None,
                   help='progress bar for folders and videos (default: when stderr is a terminal)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='override pose config keys, e.g. model.test_cfg.flip_test=False')
    args = p.parse_args(argv)

    from mmpose_lite.apis.inference import no_detector_message
    sources = [n for n, given in (('--det-config', args.det_config), ('--boxes', args.boxes),
                                  ('--whole-image', args.whole_image)) if given]
    if not sources:
        p.error(no_detector_message('--det-config DET_CFG --det-checkpoint DET_CKPT', '--boxes FILE',
                                    '--whole-image'))
    if len(sources) > 1:
        p.error(f'choose one source of person boxes, not {" and ".join(sources)}')
    if bool(args.det_config) != bool(args.det_checkpoint):
        p.error('--det-config and --det-checkpoint go together (the detector\'s config and its weights)')
    from mmpose_lite.utils.paths import SCOPE_PREFIX, config_path
    if args.config.startswith(SCOPE_PREFIX):
        try:
            args.config = config_path(args.config)
        except (FileNotFoundError, ValueError) as e:
            p.error(f'--config: {e}')
    for flag in ('config', 'checkpoint', 'det_config', 'det_checkpoint', 'boxes'):
        path = getattr(args, flag)
        if path is not None and not osp.isfile(osp.expanduser(path)):
            p.error(f'--{flag.replace("_", "-")}: {path} does not exist (or is not a file)')
    args.device = _check_device(p, args.device)
    return args, p


def _check_device(parser: argparse.ArgumentParser, device: Optional[str]) -> str:
    import torch
    if device is None:
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    kind, _, index = device.partition(':')
    if kind not in ('cpu', 'cuda') or (index and (kind == 'cpu' or not index.isdigit())):
        parser.error(f'--device: {device!r} is not cpu, cuda or cuda:N')
    if kind == 'cuda':
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            parser.error(f'--device {device}: CUDA is not available here; use --device cpu')
        if index and int(index) >= count:
            parser.error(f'--device {device}: only {count} CUDA device(s) here (cuda:0 .. cuda:{count - 1})')
    return device


def _progress_bar(enabled: Optional[bool], unit: str):
    """``wrap(iterable, total)`` showing a rich progress bar on stderr
    (rich comes with MMEngine; MMPose's inferencer uses it too)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    console = Console(stderr=True, force_terminal=True if enabled else None)
    if enabled is False or (enabled is None and not console.is_terminal):
        return None

    def wrap(iterable, total):
        columns = (TextColumn(f'[progress.description]{unit}'), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=console) as bar:
            yield from bar.track(iterable, total=total or None)
    return wrap


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``mmpose-lite-infer``.

    Args:
        argv (list[str], optional): The arguments (default: ``sys.argv[1:]``).

    Returns:
        int: 0 on success; 1 when the checkpoint cannot be used (mismatch,
        unsafe or unreadable file), with the message and no traceback. Usage
        and input errors exit with status 2 (argparse) before a model is built.
    """
    args, parser = parse_args(argv)
    from mmpose_lite.apis import (
        BoxDetector,
        InferenceInputError,
        build_inferencer,
        read_box_file,
        resolve_input,
        run_inference,
    )
    try:
        source = resolve_input(args.input)
        boxes = read_box_file(args.boxes) if args.boxes else None
        if boxes is not None:
            try:
                BoxDetector(boxes).check(source)
            except InferenceInputError as e:
                raise InferenceInputError(f'--boxes {osp.abspath(args.boxes)}: {e}') from None
        out_dir = ensure_writable_dir(args.out_dir, '--out-dir')
    except (InferenceInputError, OSError) as e:
        parser.error(str(e))

    import logging

    from mmengine.logging import MMLogger

    from mmpose_lite.utils.checkpoint import CheckpointMismatchError

    # the inferencer logs every file it writes; this run reports them once at the end
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        inferencer = build_inferencer(args.config, args.checkpoint, det_config=args.det_config,
                                      det_checkpoint=args.det_checkpoint, det_cat_ids=args.det_cat_id,
                                      boxes=boxes, whole_image=args.whole_image, device=args.device,
                                      cfg_options=args.cfg_options)
        written = run_inference(inferencer, source, out_dir, bbox_thr=args.bbox_thr, nms_thr=args.nms_thr,
                                kpt_thr=args.kpt_thr, draw_bbox=args.draw_bbox,
                                progress=_progress_bar(args.progress if source.kind != 'image' else False,
                                                       'frames' if source.kind == 'video' else 'images'))
    except (CheckpointMismatchError, pickle.UnpicklingError, InferenceInputError, FileNotFoundError) as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 1
    finally:
        logger.setLevel(level)
    poses = sum(sum(w.poses) for w in written)
    if source.kind == 'video':
        print(f'{len(written[0].poses)} frames, {poses} poses: {written[0].visualization}, {written[0].predictions}')
    elif len(written) == 1:
        print(f'{poses} pose{"s" if poses != 1 else ""}: {written[0].visualization}, {written[0].predictions}')
    else:
        print(f'{len(written)} images, {poses} poses: {osp.dirname(written[0].visualization)}/*.png, '
              f'{osp.dirname(written[0].predictions)}/*.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
