"""Person boxes a user gives, in the place of a detector.

:func:`read_box_file` reads and validates a JSON file of boxes per image (or
per video frame); :class:`BoxDetector` answers the calls MMPose's
``Pose2DInferencer`` makes to its person detector from that table, so the
inferencer crops, runs, draws and writes exactly as with a detector.
"""
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Union

import numpy as np

from .inputs import InferenceInputError, ResolvedInput

__all__ = ['read_box_file', 'BoxDetector', 'PERSON']

PERSON = 0  #: COCO's (and MMDetection's COCO models') label of ``person``


def _box(value, where: str) -> List[float]:
    ok = (isinstance(value, list) and len(value) in (4, 5)
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))
    if not ok or value[2] <= value[0] or value[3] <= value[1]:
        raise InferenceInputError(f'{where}: {json.dumps(value)[:80]} is not a box; a box is '
                                  '[x1, y1, x2, y2] or [x1, y1, x2, y2, score] in pixels, x2 > x1 and y2 > y1')
    return [float(v) for v in value] + ([1.0] if len(value) == 4 else [])


def _boxes(values, where: str) -> np.ndarray:
    return np.array([_box(b, f'{where}[{i}]') for i, b in enumerate(values)], dtype=np.float32).reshape(-1, 5)


def read_box_file(filename: str) -> Dict[str, Union[np.ndarray, List[np.ndarray]]]:
    """Read a JSON file of person boxes, validating every box.

    The file maps an image's file name to its boxes, and a video's file
    name to one list of boxes per frame (frame 0 first)::

        {"photo.jpg": [[x1, y1, x2, y2], [x1, y1, x2, y2, score]],
         "clip.mp4": [[[x1, y1, x2, y2]], [], [[x1, y1, x2, y2, score]]]}

    Coordinates are pixels (x1, y1: top-left corner); the score defaults to 1.

    Returns:
        dict: File name -> ``(N, 5)`` float32 array ``[x1, y1, x2, y2, score]``
        (an image), or a list of such arrays, one per frame (a video).

    Raises:
        InferenceInputError: The file is missing, is not JSON of that shape,
            or holds a box that is not one (the message names the entry).
    """
    filename = osp.abspath(osp.expanduser(os.fspath(filename)))
    try:
        with open(filename, encoding='utf-8') as f:
            table = json.load(f)
    except FileNotFoundError:
        raise InferenceInputError(f'the box file {filename} does not exist') from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InferenceInputError(f'cannot read the box file {filename}: {e}') from None
    if not isinstance(table, dict):
        raise InferenceInputError(f'the box file {filename} must hold a JSON object mapping file names to boxes, '
                                  f'e.g. {{"photo.jpg": [[x1, y1, x2, y2]]}}; it holds a {type(table).__name__}')
    boxes: Dict[str, Union[np.ndarray, List[np.ndarray]]] = {}
    for name, value in table.items():
        where = f'{filename}: "{name}"'
        if not isinstance(value, list):
            raise InferenceInputError(f'{where} must map to a list of boxes (or, for a video, of lists of boxes)')
        if value and all(isinstance(v, list) and all(isinstance(b, list) for b in v) for v in value):
            boxes[name] = [_boxes(frame, f'{where}[frame {i}]') for i, frame in enumerate(value)]  # a video
        else:
            boxes[name] = _boxes(value, where)
    return boxes


class BoxDetector:
    """Boxes from a table (:func:`read_box_file`) in the place of the
    inferencer's person detector.

    MMPose's ``Pose2DInferencer`` calls its ``detector`` with each image (a
    path) or video frame (an array) and keeps the returned boxes of the
    person label whose score is above ``bbox_thr``, after NMS
    (``nms_thr``). This object answers those calls from the table: an image
    by its file name, frame ``i`` of the video set by :meth:`start_video` by
    its ``i``-th list (a frame beyond the list, or an image with an empty
    list, gets no box, and MMPose then uses the whole image).

    Args:
        boxes (dict): File name -> boxes, as :func:`read_box_file` returns.
    """

    def __init__(self, boxes: Dict[str, Union[np.ndarray, List[np.ndarray]]]):
        self.boxes = boxes
        self._frames: Optional[List[np.ndarray]] = None
        self._next_frame = 0

    def start_video(self, name: str) -> None:
        """Answer the frames that follow with the boxes of the video ``name``."""
        self._frames, self._next_frame = self.lookup(name, video=True), 0

    def lookup(self, name: str, video: bool = False):
        """The boxes of file ``name`` (its base name is looked up).

        Raises:
            InferenceInputError: The table has no entry for it, or an image's
                entry for a video (or the reverse).
        """
        key = osp.basename(name)
        if key not in self.boxes:
            known = ', '.join(sorted(self.boxes)[:5]) + (' ...' if len(self.boxes) > 5 else '')
            raise InferenceInputError(f'the box file has no entry "{key}" (its entries: {known or "none"}); '
                                      'add one ([] lets the whole image be the box)')
        value = self.boxes[key]
        if video != isinstance(value, list):
            want = 'one list of boxes per frame' if video else 'a list of boxes'
            raise InferenceInputError(f'the box file\'s entry "{key}" should be {want}')
        return value

    def check(self, source: ResolvedInput) -> None:
        """Raise :class:`InferenceInputError` now if the table lacks an entry
        of the right kind for an image or the video of ``source``."""
        if source.kind == 'video':
            self.lookup(source.path, video=True)
        for image in source.images:
            self.lookup(image)

    def __call__(self, inputs, return_datasamples: bool = True, **kwargs) -> dict:
        from mmengine.structures import BaseDataElement, InstanceData
        if isinstance(inputs, str):
            boxes = self.lookup(inputs)
        else:
            if self._frames is None:
                raise InferenceInputError('BoxDetector got a video frame before start_video(name); run videos '
                                          'through mmpose_lite.apis.run_inference')
            index, self._next_frame = self._next_frame, self._next_frame + 1
            boxes = self._frames[index] if index < len(self._frames) else np.zeros((0, 5), np.float32)
        found = InstanceData(bboxes=boxes[:, :4], scores=boxes[:, 4], labels=np.full(len(boxes), PERSON))
        return dict(predictions=[BaseDataElement(pred_instances=found)])
