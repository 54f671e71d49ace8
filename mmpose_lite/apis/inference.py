"""Pose inference on images, folders and videos with MMPose's inferencer.

MMPose's ``MMPoseInferencer`` runs every config of this package as it is
(``import mmpose_lite`` first, so that our modules are registered)::

    import mmpose_lite  # noqa: F401
    from mmpose.apis import MMPoseInferencer
    inferencer = MMPoseInferencer(pose2d=CONFIG, pose2d_weights=CHECKPOINT, det_model='whole_image')
    for result in inferencer('photo.jpg', vis_out_dir='out/vis', pred_out_dir='out/pred'):
        ...

This module adds only what a user meets around it, and reimplements none of
it (the inferencer reads the inputs, runs the detector and the model, draws
and writes the files):

* :func:`build_inferencer`: the inferencer with a person detector chosen
  explicitly -- an MMDetection config and checkpoint, boxes the user gives
  (:class:`BoxDetector`), or the whole image -- instead of MMPose's default
  detector, which it would download; checkpoint problems (a missing, unsafe,
  unreadable or mismatched file) raised with messages naming the file.
* :func:`run_inference`: the inferencer over one resolved input, writing a
  PNG per image (the video itself for a video) and MMPose's JSON predictions.

Inputs are checked by :func:`~.inputs.resolve_input`, user boxes read by
:func:`~.boxes.read_box_file`; the command-line front end is
:mod:`mmpose_lite.apis.cli` (``mmpose-lite-infer``).
"""
import os
import os.path as osp
from typing import Callable, Iterator, List, NamedTuple, Optional, Sequence, Union

from .boxes import PERSON, BoxDetector, read_box_file
from .inputs import ResolvedInput

__all__ = ['NoDetectorError', 'build_inferencer', 'run_inference', 'no_detector_message']


class NoDetectorError(ValueError):
    """No way to find the people in the images was chosen."""


def no_detector_message(det: str = "det_config=... and det_checkpoint=...", boxes: str = 'boxes=FILE',
                        whole: str = 'whole_image=True') -> str:
    """Why a person detector must be chosen, and the choices (spelled as the
    caller's arguments)."""
    return ('no person detector chosen. A top-down model estimates one pose per person box, and without a detector '
            "MMPose's inferencer downloads its default one (RTMDet) from the internet, which this tool never does. "
            f'Choose one: {det} (an MMDetection config and a checkpoint you have, e.g. from MMDetection\'s model '
            f'zoo; people are label 0 of COCO models); {boxes} (a JSON file of person boxes per image, see '
            f'--help); or {whole} (each image is one person\'s box: for crops of single people).')


# ------------------------------------------------------------------------------- the inferencer
def _unloadable_checkpoint_error(files: Sequence[str]) -> Optional[BaseException]:
    """The error naming the first of ``files`` that torch cannot load
    weights-only (unsafe, unreadable), or None if all load. Only called when
    building the inferencer failed, to name the file MMEngine's loader failed on."""
    import torch

    from mmpose_lite.engine.safe_checkpoint import explain_unsafe
    for filename in files:
        try:
            torch.load(filename, map_location='cpu', weights_only=True)
        except Exception as e:  # noqa: BLE001 - each failure is explained below
            return explain_unsafe(filename, e)
    return None


def _check_weights_fit(model, checkpoint: str) -> None:
    """Raise ``CheckpointMismatchError`` when ``checkpoint`` does not cover
    ``model`` exactly (MMEngine's loader, which the inferencer uses, only warns;
    our backbones and necks already refuse, this covers the head too). Reads
    the file a second time: the inferencer keeps no copy of what it loaded."""
    import torch

    from mmpose_lite.utils.checkpoint import CheckpointMismatchError, describe_mismatch
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    state = state.get('state_dict', state) if isinstance(state, dict) else {}
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    problem = describe_mismatch(model, state, checkpoint)
    if problem:
        raise CheckpointMismatchError(problem)


def _load_config(config, cfg_options: Optional[dict]):
    from mmengine.config import Config
    from mmengine.utils import import_modules_from_strings

    import mmpose_lite  # noqa: F401  (registers our modules; the inferencer ignores custom_imports)
    cfg = config.copy() if isinstance(config, Config) else Config.fromfile(_config_path(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg['custom_imports'])
    return cfg


def _config_path(config: str) -> str:
    """A config file path, checked (clear error instead of MMEngine's); a
    name ``'mmpose_lite::<path under our configs>'`` is one of this package's."""
    from mmpose_lite.utils.paths import SCOPE_PREFIX, config_path
    if str(config).startswith(SCOPE_PREFIX):
        return config_path(str(config))
    path = osp.expanduser(os.fspath(config))
    if not osp.isfile(path):
        raise FileNotFoundError(f'config {config} does not exist; pass the path of a pose config (.py) or one of '
                                "this package's as 'mmpose_lite::body_2d_keypoint/topdown_heatmap/synthetic/"
                                "td-hm_xhrnet-s18_demo_synthcoco-128x96.py'")
    return path


def build_inferencer(config, checkpoint: str, *, det_config: Optional[str] = None,
                     det_checkpoint: Optional[str] = None, det_cat_ids: Union[int, Sequence[int]] = PERSON,
                     boxes: Optional[Union[str, dict]] = None, whole_image: bool = False,
                     device: Optional[str] = None, cfg_options: Optional[dict] = None):
    """MMPose's ``MMPoseInferencer`` for a pose config of this package, with
    the person boxes from exactly one explicit source.

    Args:
        config (str | Config): The pose config: a file, one of this package's
            as ``'mmpose_lite::<path under its configs>'``, or a loaded ``Config``.
        checkpoint (str): Its checkpoint (weights only; must fit the model).
        det_config (str, optional): An MMDetection config file of a detector
            that finds people; with ``det_checkpoint``.
        det_checkpoint (str, optional): The detector's checkpoint file.
        det_cat_ids (int | sequence[int]): The detector's person label(s).
            Default: 0 (COCO).
        boxes (str | dict, optional): A box file (:func:`read_box_file`) or
            the dict it returns.
        whole_image (bool): Each image (or frame) is one person's box.
        device (str, optional): ``'cpu'``, ``'cuda'``, ``'cuda:1'``; default:
            CUDA if available.
        cfg_options (dict, optional): Config keys to override.

    Returns:
        MMPoseInferencer: With ``inferencer.inferencer.detector`` a
        :class:`BoxDetector` when ``boxes`` is given.

    Raises:
        NoDetectorError: None or several of the three sources given.
        FileNotFoundError: A config or checkpoint file is missing.
        UnsafeCheckpointError: A checkpoint holds objects other than tensors
            and plain data (the message says how to load a trusted file).
        pickle.UnpicklingError: A checkpoint is not a readable checkpoint.
        CheckpointMismatchError: The checkpoint does not fit the config's model.
    """
    from mmpose.apis import MMPoseInferencer
    chosen = [name for name, given in (('det_config', det_config is not None), ('boxes', boxes is not None),
                                       ('whole_image', bool(whole_image))) if given]
    if not chosen:
        raise NoDetectorError(no_detector_message())
    if len(chosen) > 1:
        raise NoDetectorError(f'choose one source of person boxes, not {" and ".join(chosen)}')
    if (det_config is None) != (det_checkpoint is None):
        raise NoDetectorError('det_config and det_checkpoint go together: the detector\'s config and its weights')
    files = [checkpoint] + ([det_config, det_checkpoint] if det_config else [])
    for what, path in zip(('checkpoint', 'detector config', 'detector checkpoint'), files):
        if not osp.isfile(osp.expanduser(str(path))):
            raise FileNotFoundError(f'{what} {path} does not exist')
    if isinstance(boxes, (str, os.PathLike)):
        boxes = read_box_file(boxes)
    cfg = _load_config(config, cfg_options)
    if device is None:
        import torch
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    from mmpose_lite.utils.checkpoint import CheckpointMismatchError
    try:
        inferencer = MMPoseInferencer(pose2d=cfg, pose2d_weights=checkpoint, device=device,
                                      det_model=det_config or 'whole_image', det_weights=det_checkpoint,
                                      det_cat_ids=det_cat_ids)
    except CheckpointMismatchError as e:  # raised by our backbones and necks, which do not know the file
        raise CheckpointMismatchError(f'the checkpoint {checkpoint} does not fit the model of the config:\n{e}') from e
    except Exception as e:
        unreadable = _unloadable_checkpoint_error([checkpoint] + ([det_checkpoint] if det_checkpoint else []))
        if unreadable is not None:
            raise unreadable from e
        raise
    _check_weights_fit(inferencer.inferencer.model, checkpoint)
    if boxes is not None:
        # the attributes MMPose's Pose2DInferencer._init_detector sets, read by its preprocess_single
        inferencer.inferencer.detector = BoxDetector(boxes)
        inferencer.inferencer.det_cat_ids = (PERSON, )
    return inferencer


# ---------------------------------------------------------------------------------------- runs
class Written(NamedTuple):
    """What one image or video produced: ``poses`` per image/frame."""
    visualization: str
    predictions: str
    poses: List[int]


def run_inference(inferencer, source: ResolvedInput, out_dir: str, *, bbox_thr: float = 0.3,
                  nms_thr: float = 0.3, kpt_thr: float = 0.3, draw_bbox: bool = False,
                  progress: Optional[Callable[[Iterator, int], Iterator]] = None) -> List[Written]:
    """Run ``inferencer`` over a resolved input, writing into ``out_dir``
    ``visualizations/<name>.png`` per image (``visualizations/<video file
    name>`` for a video) and MMPose's JSON predictions
    ``predictions/<name>.json`` (a video: one file, one entry per frame).

    Args:
        inferencer (MMPoseInferencer): From :func:`build_inferencer` (or MMPose).
        source (ResolvedInput): From :func:`resolve_input`.
        out_dir (str): The output folder.
        bbox_thr (float): Keep detected boxes scoring above this.
        nms_thr (float): IoU above which MMPose's NMS drops the lower-scoring
            of two boxes (user boxes are never dropped by NMS).
        kpt_thr (float): Draw keypoints scoring above this.
        draw_bbox (bool): Draw the boxes too.
        progress (callable, optional): ``progress(iterable, total)`` wraps the
            per-image/per-frame iteration (a progress bar).

    Returns:
        list[Written]: One per image, or one for the video.
    """
    wrap = progress or (lambda it, total: it)
    vis_dir, pred_dir = osp.join(out_dir, 'visualizations'), osp.join(out_dir, 'predictions')
    detector = getattr(inferencer.inferencer, 'detector', None)
    user_boxes = isinstance(detector, BoxDetector)
    options = dict(bbox_thr=bbox_thr, nms_thr=1.0 if user_boxes else nms_thr, kpt_thr=kpt_thr,
                   draw_bbox=draw_bbox, pred_out_dir=pred_dir)
    written = []
    if source.kind == 'video':
        if user_boxes:
            detector.start_video(source.path)
        name = osp.basename(source.path)
        poses = [len(r['predictions'][0]) for r in
                 wrap(inferencer(source.path, vis_out_dir=vis_dir, **options), source.frames)]
        written.append(Written(osp.join(vis_dir, name), osp.join(pred_dir, osp.splitext(name)[0] + '.json'), poses))
        return written
    for image in wrap(source.images, len(source.images)):
        stem = osp.splitext(osp.basename(image))[0]
        vis = osp.join(vis_dir, stem + '.png')
        results = list(inferencer(image, vis_out_dir=vis, **options))
        written.append(Written(vis, osp.join(pred_dir, stem + '.json'), [len(results[0]['predictions'][0])]))
    return written
