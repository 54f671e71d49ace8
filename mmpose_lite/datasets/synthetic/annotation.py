"""COCO keypoint annotation of a drawn person, read off the canvas's layer
buffer.

Visibility flags (COCO convention):

* ``v=0`` and ``x=y=0``: the keypoint lies outside the image.
* ``v=1``: inside the image but hidden by something drawn after the person
  (another person in front or an occluder object), decided per pixel from
  the layer buffer; or a face keypoint (nose, eyes, ears) on the far side
  of the head (not drawn, e.g. the nose of a person seen from the back).
* ``v=2``: otherwise. Other self-occlusion (e.g. the far shoulder of a
  person seen in profile, hidden behind their own torso) is *not* modelled
  and stays ``v=2``.

People whose visible area is below ``min_visible_area`` pixels are drawn but
not annotated. Annotations with ``num_keypoints == 0`` are kept (like COCO).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np

from .canvas import Canvas

__all__ = ['COCO_KEYPOINT_NAMES', 'COCO_SKELETON', 'COCO_PERSON_CATEGORY', 'DATASET_INFO', 'annotate_person']

COCO_KEYPOINT_NAMES: Tuple[str, ...] = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle')

#: COCO's 1-based 19-limb skeleton, exactly as in ``person_keypoints_*.json``.
COCO_SKELETON: Tuple[Tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13),
    (6, 7), (6, 8), (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4),
    (3, 5), (4, 6), (5, 7))

COCO_PERSON_CATEGORY: Dict[str, Any] = {
    'supercategory': 'person',
    'id': 1,
    'name': 'person',
    'keypoints': list(COCO_KEYPOINT_NAMES),
    'skeleton': [list(s) for s in COCO_SKELETON],
}

#: The ``info`` block of the annotation files (plus ``seed`` and ``split``).
DATASET_INFO: Dict[str, Any] = {
    'description': 'mmpose_lite synthetic COCO-keypoints dataset',
    'url': '',
    'version': '1.0',
    'year': 2024,
    'contributor': 'mmpose_lite',
    'date_created': '2024-01-01',
}


def _keypoints(pts2d: Dict[str, np.ndarray], canvas: Canvas, layer: int,
               face_visible: Dict[str, bool]) -> Tuple[List[Any], int]:
    """COCO ``keypoints`` (x, y, v triplets) and the number of labelled
    ones (``v > 0``)."""
    kpts: List[Any] = []
    nvis = 0
    for name in COCO_KEYPOINT_NAMES:
        x, y = (float(v) for v in pts2d[name])
        if not (0.0 <= x <= canvas.w - 1 and 0.0 <= y <= canvas.h - 1):
            kpts += [0.0, 0.0, 0]
            continue
        top = int(canvas.layer[int(round(y)), int(round(x))])
        v = 1 if top > layer else 2
        if name in face_visible and not face_visible[name]:
            v = 1
        kpts += [round(x, 2), round(y, 2), v]
        nvis += 1
    return kpts, nvis


def _segmentation(mask: np.ndarray) -> List[List[float]]:
    """Outer contours of ``mask`` as COCO polygons (3 points or more)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [[float(v) for v in c.reshape(-1)] for c in contours if len(c) >= 3]


def annotate_person(person, canvas: Canvas, layer: int, face_visible: Dict[str, bool],
                    min_area: int) -> Optional[Dict[str, Any]]:
    """COCO annotation (without ids) of the person drawn with ``layer``.

    Args:
        person: The drawn :class:`~.person.Person` (its ``pts2d`` are used).
        canvas: The canvas after everything was drawn.
        layer: The person's layer number.
        face_visible: Face keypoint name -> facing the camera.
        min_area: Minimum visible pixel count.

    Returns:
        The annotation, or None if fewer than ``min_area`` pixels of the
        person are visible.
    """
    mask = canvas.layer == layer
    area = int(np.count_nonzero(mask))
    if area < min_area:
        return None
    ys, xs = np.nonzero(mask)
    bx0, by0, bx1, by1 = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    kpts, nvis = _keypoints(person.pts2d, canvas, layer, face_visible)
    return {
        'category_id': 1,
        'keypoints': kpts,
        'num_keypoints': nvis,
        'bbox': [float(bx0), float(by0), float(bx1 - bx0 + 1), float(by1 - by0 + 1)],
        'area': float(area),
        'iscrowd': 0,
        'segmentation': _segmentation(mask),
    }
