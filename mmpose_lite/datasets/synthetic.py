"""Deterministic generator of a synthetic COCO-keypoint dataset.

The dataset is the package's embedded default data: small, CPU-friendly and
fully reproducible from a seed. Every image shows 1 to ``max_people``
articulated people rendered with body volume (tapered limbs, a torso, a head
with face marks, clothing colours, shading and texture) over varied
backgrounds with distractor shapes, occluder objects and truncation at the
image border.

People are built as 3D stick figures with anatomical proportions (relative to
the person's height) and joint angles inside anatomical ranges, then rotated
about the vertical axis (front / side / back views), projected
orthographically, rotated in the image plane (e.g. lying people), scaled and
placed. Because the view rotation is a real 3D rotation, left/right labels are
always anatomically correct: a person seen from the front has the left
shoulder on the image right, a person seen from the back on the image left.

Output layout (``out_dir``)::

    annotations/person_keypoints_train.json
    annotations/person_keypoints_val.json
    annotations/person_detection_results_val.json
    train/000000000001.jpg ...
    val/000000000001.jpg ...

Visibility flags (COCO convention):

* ``v=0`` and ``x=y=0``: the keypoint lies outside the image.
* ``v=1``: inside the image but hidden by something drawn after the person
  (another person in front or an occluder object), decided per pixel from a
  layer buffer; or a face keypoint (nose, eyes, ears) on the far side of the
  head (not drawn, e.g. the nose of a person seen from the back).
* ``v=2``: otherwise. Other self-occlusion (e.g. the far shoulder of a person
  seen in profile, hidden behind their own torso) is *not* modelled and stays
  ``v=2``.

People whose visible area is below ``min_visible_area`` pixels are drawn but
not annotated. Annotations with ``num_keypoints == 0`` are kept (like COCO).

Only numpy, OpenCV and the standard library are used, so this module can run
before torch / MMPose are installed::

    python -m mmpose_lite.datasets.synthetic data/synth_coco --num-train 1000
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    'COCO_KEYPOINT_NAMES',
    'COCO_SKELETON',
    'COCO_PERSON_CATEGORY',
    'SyntheticCocoConfig',
    'SyntheticCocoResult',
    'generate_synthetic_coco',
    'render_image',
    'sample_person_3d',
    'project_points',
    'BODY_PROPORTIONS',
    'main',
]

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


#: Nominal body proportions as fractions of standing height (after Drillis &
#: Contini); each person scales them by an individual factor.
BODY_PROPORTIONS: Dict[str, float] = {
    'pelvis_height': 0.53,   # hip joints above the ground
    'torso': 0.29,           # hip-joint midpoint -> shoulder-joint midpoint
    'shoulder_half': 0.105,  # half distance between shoulder joints
    'hip_half': 0.07,        # half distance between hip keypoints
    'upper_arm': 0.186,      # shoulder -> elbow
    'forearm': 0.146,        # elbow -> wrist
    'hand': 0.07,
    'thigh': 0.245,          # hip -> knee
    'shank': 0.246,          # knee -> ankle
    'foot': 0.13,
    'neck': 0.115,           # shoulder midpoint -> head centre
    'head_half_w': 0.05,
    'head_half_h': 0.064,
}

# face feature offsets in the head frame (x = person's left, y = up,
# z = forward), as fractions of standing height
_FACE_OFFSETS = {
    'nose': (0.0, -0.012, 0.058),
    'left_eye': (0.02, 0.01, 0.046),
    'right_eye': (-0.02, 0.01, 0.046),
    'left_ear': (0.047, 0.0, -0.004),
    'right_ear': (-0.047, 0.0, -0.004),
}
_FACE_NORMALS = {
    'nose': (0.0, -0.1, 1.0),
    'left_eye': (0.35, 0.15, 0.92),
    'right_eye': (-0.35, 0.15, 0.92),
    'left_ear': (1.0, 0.0, -0.05),
    'right_ear': (-1.0, 0.0, -0.05),
}
# a face feature is drawn (and visible) iff its view-space normal has
# z >= this threshold (z points towards the camera)
_FACE_VISIBLE_Z = -0.2

_POSE_KINDS = ('standing', 'walking', 'arms_raised', 'sitting', 'lying',
               'action')
_POSE_PROBS = (0.27, 0.25, 0.15, 0.1, 0.07, 0.16)

_SHIFT = 4  # cv2 fixed-point sub-pixel bits
_SCALE = float(1 << _SHIFT)

_SPLIT_CODES = {'train': 0, 'val': 1}
_DET_STREAM = 7

_INFO = {
    'description': 'mmpose_lite synthetic COCO-keypoints dataset',
    'url': '',
    'version': '1.0',
    'year': 2024,
    'contributor': 'mmpose_lite',
    'date_created': '2024-01-01',
}


# --------------------------------------------------------------------- config
@dataclass(frozen=True)
class SyntheticCocoConfig:
    """Parameters of the synthetic dataset.

    Attributes:
        num_train: Number of training images.
        num_val: Number of validation images.
        img_size: Image size as ``(width, height)`` in pixels.
        seed: Master seed; output is a pure function of the config.
        max_people: Maximum number of people per image (1 to 8).
        min_visible_area: People with fewer visible pixels are drawn but not
            annotated.
        jpeg_quality: JPEG quality (1-100) of the written images.
        occluder_prob: Probability that an image gets occluder objects drawn
            over people.
        truncation_prob: Probability that a person is placed partly outside
            the image.
    """

    num_train: int = 1000
    num_val: int = 150
    img_size: Tuple[int, int] = (320, 240)
    seed: int = 0
    max_people: int = 4
    min_visible_area: int = 64
    jpeg_quality: int = 92
    occluder_prob: float = 0.4
    truncation_prob: float = 0.25

    def validate(self) -> None:
        """Checks every field.

        Raises:
            ValueError: If a value is out of range; the message names the
                field and the bad value.
        """
        for name in ('num_train', 'num_val'):
            val = getattr(self, name)
            if not _is_int(val) or val < 0:
                raise ValueError(
                    f'{name} must be a non-negative integer, got {val!r}')
        size = self.img_size
        if (not isinstance(size, (tuple, list)) or len(size) != 2
                or not all(_is_int(s) for s in size)):
            raise ValueError(
                f'img_size must be a (width, height) pair of integers, '
                f'got {size!r}')
        if min(size) < 64 or max(size) > 4096:
            raise ValueError(
                f'img_size must have width and height in [64, 4096], '
                f'got {tuple(size)!r}')
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(
                f'seed must be a non-negative integer, got {self.seed!r}')
        if not _is_int(self.max_people) or not 1 <= self.max_people <= 8:
            raise ValueError(
                f'max_people must be an integer in [1, 8], '
                f'got {self.max_people!r}')
        if not _is_int(self.min_visible_area) or self.min_visible_area < 1:
            raise ValueError(f'min_visible_area must be a positive integer, '
                             f'got {self.min_visible_area!r}')
        if not _is_int(self.jpeg_quality) or not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f'jpeg_quality must be an integer in [1, 100], '
                             f'got {self.jpeg_quality!r}')
        for name in ('occluder_prob', 'truncation_prob'):
            val = getattr(self, name)
            if not isinstance(val, (int, float)) or not 0.0 <= val <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {val!r}')


@dataclass(frozen=True)
class SyntheticCocoResult:
    """What :func:`generate_synthetic_coco` wrote.

    Attributes:
        data_root: The output directory.
        train_ann_file: Path of the training keypoint annotations.
        val_ann_file: Path of the validation keypoint annotations.
        val_det_file: Path of the validation person-detection results.
        train_img_dir: Directory of the training images.
        val_img_dir: Directory of the validation images.
        num_train_images: Number of training images.
        num_val_images: Number of validation images.
        num_train_annotations: Number of training person annotations.
        num_val_annotations: Number of validation person annotations.
        num_val_detections: Number of entries in the detection file.
        seconds: Wall time of the generation.
    """

    data_root: str
    train_ann_file: str
    val_ann_file: str
    val_det_file: str
    train_img_dir: str
    val_img_dir: str
    num_train_images: int
    num_val_images: int
    num_train_annotations: int
    num_val_annotations: int
    num_val_detections: int
    seconds: float


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


# ------------------------------------------------------------- 3D kinematics
def _rot_x(a: float) -> np.ndarray:
    """Rotation about x; positive angles swing a hanging limb forward."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


def _rot_y(a: float) -> np.ndarray:
    """Rotation about the vertical axis; positive turns +z towards +x."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    """Rotation about z; positive swings a hanging limb towards +x."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


_DOWN = np.array([0.0, -1.0, 0.0])
_UP = np.array([0.0, 1.0, 0.0])
_FWD = np.array([0.0, 0.0, 1.0])
_MIRROR = np.diag([-1.0, 1.0, 1.0])


def _limb_dirs(flex: float, abd: float, bend: float, twist: float,
               bend_sign: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directions of a two-segment limb of the *left* body side.

    Args:
        flex: Forward swing of the proximal segment from hanging down (rad).
        abd: Outward swing (abduction) of the proximal segment (rad).
        bend: Bend of the middle joint (0 = straight, rad).
        twist: Rotation of the bending plane about the proximal segment.
        bend_sign: +1 if the distal segment bends to the front (elbow), -1 if
            to the back (knee).

    Returns:
        Unit directions of the proximal segment, the distal segment and of
        the hand / foot.
    """
    rot = _rot_x(flex) @ _rot_z(abd)
    d1 = rot @ _DOWN
    b = rot @ (_FWD * bend_sign)
    if twist:
        b = math.cos(twist) * b + math.sin(twist) * np.cross(d1, b)
    d2 = math.cos(bend) * d1 + math.sin(bend) * b
    if bend_sign > 0:
        d3 = d2
    else:  # the foot points forward, turned along with the shank
        d3 = math.cos(bend) * (-b) + math.sin(bend) * d1
        d3 = 0.85 * d3 + 0.15 * d2
        d3 /= np.linalg.norm(d3)
    return d1, d2, d3


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _deg(x: float) -> float:
    return x * math.pi / 180.0


def _sample_angles(rng: np.random.Generator, kind: str) -> Dict[str, Any]:
    """Samples joint angles (degrees) for one pose kind."""
    a: Dict[str, Any] = {
        'lean': _u(rng, -5, 10), 'side': _u(rng, -6, 6),
        'twist': _u(rng, -10, 10), 'nod': _u(rng, -15, 20),
        'tilt': _u(rng, -12, 12), 'turn': _u(rng, -30, 30)
    }
    arms, legs = [], []
    if kind == 'standing':
        for _ in range(2):
            if rng.random() < 0.15:  # hand on hip
                arms.append((_u(rng, -15, 5), _u(rng, 30, 50),
                             _u(rng, 80, 115), _u(rng, 50, 80)))
            else:
                arms.append((_u(rng, -10, 25), _u(rng, 4, 25),
                             _u(rng, 0, 35), _u(rng, -20, 30)))
            legs.append((_u(rng, -6, 12), _u(rng, 0, 12), _u(rng, 0, 15), 0.0))
    elif kind == 'walking':
        s = _u(rng, 12, 35)
        front = int(rng.integers(2))
        for side in range(2):
            sgn = 1.0 if side == front else -1.0
            legs.append((sgn * s + _u(rng, -4, 4), _u(rng, 0, 8),
                         _u(rng, 3, 25) if sgn > 0 else _u(rng, 10, 45), 0.0))
            arms.append((-sgn * _u(rng, 8, 35), _u(rng, 4, 15),
                         _u(rng, 10, 50), _u(rng, -10, 20)))
        a['lean'] = _u(rng, 0, 12)
    elif kind == 'arms_raised':
        for _ in range(2):
            m = rng.random()
            if m < 0.4:  # overhead
                arms.append((_u(rng, 140, 180), _u(rng, 0, 35),
                             _u(rng, 0, 45), _u(rng, -30, 30)))
            elif m < 0.8:  # sideways, possibly goal-post
                arms.append((_u(rng, -10, 30), _u(rng, 65, 115),
                             _u(rng, 0, 110), _u(rng, -90, 20)))
            else:  # down
                arms.append((_u(rng, -10, 30), _u(rng, 4, 25),
                             _u(rng, 0, 40), _u(rng, -20, 30)))
            legs.append((_u(rng, -5, 12), _u(rng, 0, 15), _u(rng, 0, 15), 0.0))
    elif kind == 'sitting':
        for _ in range(2):
            arms.append((_u(rng, 10, 50), _u(rng, 0, 20),
                         _u(rng, 30, 95), _u(rng, -30, 30)))
            legs.append((_u(rng, 65, 100), _u(rng, 0, 18),
                         _u(rng, 60, 110), 0.0))
        a['lean'] = _u(rng, -8, 20)
    elif kind == 'lying':
        for _ in range(2):
            arms.append((_u(rng, -15, 170), _u(rng, 0, 90),
                         _u(rng, 0, 90), _u(rng, -60, 60)))
            legs.append((_u(rng, -10, 40), _u(rng, 0, 20), _u(rng, 0, 60), 0.0))
        a['lean'] = _u(rng, -10, 10)
    else:  # action: anything inside anatomical ranges
        for _ in range(2):
            arms.append((_u(rng, -40, 180), _u(rng, 0, 150),
                         _u(rng, 0, 140), _u(rng, -90, 90)))
            legs.append((_u(rng, -25, 110), _u(rng, 0, 45),
                         _u(rng, 0, 135), 0.0))
        a['lean'] = _u(rng, -15, 40)
        a['side'] = _u(rng, -25, 25)
        a['twist'] = _u(rng, -30, 30)
    if rng.random() < 0.5:  # random left/right assignment of the two sides
        arms.reverse()
        legs.reverse()
    a['arms'] = arms  # (flex, abd, bend, twist) for left, right
    a['legs'] = legs
    return a


def _build_skeleton(rng: np.random.Generator,
                    kind: str) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
    """Builds a 3D person of unit height by forward kinematics.

    Body frame: x = the person's left, y = up, z = the facing direction;
    origin at the hip-joint midpoint.

    Args:
        rng: Random generator.
        kind: One of ``_POSE_KINDS``.

    Returns:
        A dict of 3D points (the 17 COCO keypoints plus helper points for
        drawing) and a dict of per-person geometry (proportions, head
        frame, ...).
    """
    p = {k: v * _u(rng, 0.93, 1.07) for k, v in BODY_PROPORTIONS.items()}
    g = _u(rng, 0.92, 1.08)  # global build (broad / narrow)
    p['shoulder_half'] *= g
    p['hip_half'] *= g
    ang = _sample_angles(rng, kind)
    rt = (_rot_z(_deg(ang['side'])) @ _rot_x(-_deg(ang['lean']))
          @ _rot_y(_deg(ang['twist'])))
    pts: Dict[str, np.ndarray] = {}
    sh_mid = rt @ np.array([0.0, p['torso'], 0.0])
    pts['neck'] = sh_mid
    pts['waist'] = rt @ np.array([0.0, 0.1 * p['torso'], 0.0])
    for side, sgn in (('left', 1.0), ('right', -1.0)):
        mir = np.eye(3) if sgn > 0 else _MIRROR
        i = 0 if sgn > 0 else 1
        # arm
        fl, ab, be, tw = ang['arms'][i]
        d1, d2, d3 = _limb_dirs(_deg(fl), _deg(ab), _deg(be), _deg(tw), 1.0)
        d1, d2, d3 = rt @ mir @ d1, rt @ mir @ d2, rt @ mir @ d3
        sh = sh_mid + rt @ np.array([sgn * p['shoulder_half'], 0.0, 0.0])
        pts[f'{side}_shoulder'] = sh
        pts[f'{side}_elbow'] = sh + p['upper_arm'] * d1
        pts[f'{side}_wrist'] = pts[f'{side}_elbow'] + p['forearm'] * d2
        pts[f'{side}_hand'] = pts[f'{side}_wrist'] + p['hand'] * d3
        # leg
        fl, ab, be, tw = ang['legs'][i]
        d1, d2, d3 = _limb_dirs(_deg(fl), _deg(ab), _deg(be), _deg(tw), -1.0)
        d1, d2, d3 = mir @ d1, mir @ d2, mir @ d3
        hip = np.array([sgn * p['hip_half'], 0.0, 0.0])
        pts[f'{side}_hip'] = hip
        pts[f'{side}_knee'] = hip + p['thigh'] * d1
        pts[f'{side}_ankle'] = pts[f'{side}_knee'] + p['shank'] * d2
        pts[f'{side}_heel'] = pts[f'{side}_ankle'] - 0.2 * p['foot'] * d3
        pts[f'{side}_toe'] = pts[f'{side}_ankle'] + 0.8 * p['foot'] * d3
    rh = rt @ _rot_x(-_deg(ang['nod'])) @ _rot_z(_deg(ang['tilt']))
    head_c = sh_mid + p['neck'] * (rh @ _UP)
    head_frame = rh @ _rot_y(_deg(ang['turn']))
    pts['head'] = head_c
    for name, off in _FACE_OFFSETS.items():
        pts[name] = head_c + head_frame @ np.array(off) * (
            p['head_half_w'] / BODY_PROPORTIONS['head_half_w'])
    info = {'prop': p, 'head_frame': head_frame, 'kind': kind,
            'torso_frame': rt}
    return pts, info


def sample_person_3d(rng: np.random.Generator,
                     kind: Optional[str] = None
                     ) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
    """Samples a 3D person of unit height (public for tests / inspection).

    Args:
        rng: Random generator.
        kind: Pose kind (one of ``'standing', 'walking', 'arms_raised',
            'sitting', 'lying', 'action'``); random if ``None``.

    Returns:
        ``(points, info)``: 3D points by name in the body frame (x = the
        person's left, y = up, z = forward) and per-person geometry.

    Raises:
        ValueError: If ``kind`` is unknown.
    """
    if kind is None:
        kind = _POSE_KINDS[int(rng.choice(len(_POSE_KINDS), p=_POSE_PROBS))]
    elif kind not in _POSE_KINDS:
        raise ValueError(f'unknown pose kind {kind!r}; '
                         f'expected one of {_POSE_KINDS}')
    return _build_skeleton(rng, kind)


def _view_matrix(yaw: float) -> np.ndarray:
    """Body -> view rotation; view x = image right, y = up, z = to camera."""
    return _rot_y(yaw)


def project_points(points: Dict[str, np.ndarray], yaw: float, roll: float,
                   height_px: float, center: Tuple[float, float]
                   ) -> Tuple[Dict[str, np.ndarray], Dict[str, float]]:
    """Projects 3D body points to the image (orthographic camera).

    Args:
        points: 3D points in the body frame (unit height).
        yaw: Rotation about the vertical axis in radians; 0 faces the camera.
        roll: In-plane rotation in radians (counter-clockwise on screen).
        height_px: Standing height of the person in pixels.
        center: Image position of the hip-joint midpoint.

    Returns:
        2D image points (x right, y down) and view-space depths (larger is
        closer to the camera), both keyed by point name.
    """
    view = _view_matrix(yaw)
    c, s = math.cos(roll), math.sin(roll)
    out, depth = {}, {}
    for k, v in points.items():
        q = view @ v
        u, w = q[0], -q[1]
        x = c * u + s * w
        y = -s * u + c * w
        out[k] = np.array([center[0] + height_px * x,
                           center[1] + height_px * y])
        depth[k] = float(q[2])
    return out, depth


# -------------------------------------------------------------------- drawing
def _fp(pts: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts, np.float64) * _SCALE).astype(np.int32)


def _fp_pt(p) -> Tuple[int, int]:
    return (int(round(float(p[0]) * _SCALE)), int(round(float(p[1]) * _SCALE)))


class _Canvas:
    """An image plus a per-pixel layer buffer (which item is on top)."""

    def __init__(self, img: np.ndarray):
        self.img = img
        self.layer = np.zeros(img.shape[:2], np.uint8)
        self.h, self.w = img.shape[:2]

    def circle(self, c, r, color, layer: int) -> None:
        cc = _fp_pt(c)
        rr = int(round(max(float(r), 0.7) * _SCALE))
        cv2.circle(self.img, cc, rr, color, -1, cv2.LINE_8, _SHIFT)
        if layer:
            cv2.circle(self.layer, cc, rr, layer, -1, cv2.LINE_8, _SHIFT)

    def poly(self, pts, color, layer: int) -> None:
        p = _fp(pts).reshape(-1, 1, 2)
        cv2.fillConvexPoly(self.img, p, color, cv2.LINE_8, _SHIFT)
        if layer:
            cv2.fillConvexPoly(self.layer, p, layer, cv2.LINE_8, _SHIFT)

    def ellipse(self, c, axes, angle_deg, color, layer: int) -> None:
        cc = _fp_pt(c)
        ax = tuple(int(round(max(a, 0.7) * _SCALE)) for a in axes)
        cv2.ellipse(self.img, cc, ax, angle_deg, 0, 360, color, -1,
                    cv2.LINE_8, _SHIFT)
        if layer:
            cv2.ellipse(self.layer, cc, ax, angle_deg, 0, 360, layer, -1,
                        cv2.LINE_8, _SHIFT)

    def capsule(self, p0, p1, r0, r1, color, layer: int) -> None:
        x0, y0 = float(p0[0]), float(p0[1])
        x1, y1 = float(p1[0]), float(p1[1])
        r0, r1 = max(float(r0), 0.7), max(float(r1), 0.7)
        self.circle((x0, y0), r0, color, layer)
        self.circle((x1, y1), r1, color, layer)
        n = math.hypot(x1 - x0, y1 - y0)
        if n > 1e-6:
            qx, qy = (y0 - y1) / n, (x1 - x0) / n
            self.poly([(x0 + qx * r0, y0 + qy * r0),
                       (x1 + qx * r1, y1 + qy * r1),
                       (x1 - qx * r1, y1 - qy * r1),
                       (x0 - qx * r0, y0 - qy * r0)], color, layer)


def _col(c) -> Tuple[int, int, int]:
    return tuple(int(min(max(float(v), 0.0), 255.0)) for v in c[:3])


def _shade(c, f: float) -> Tuple[int, int, int]:
    return _col([float(v) * f for v in c[:3]])


def _hsv_color(rng, s_lo=0.3, s_hi=1.0, v_lo=0.3, v_hi=1.0) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), int(255 * _u(rng, s_lo, s_hi)),
                      int(255 * _u(rng, v_lo, v_hi))]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(float)


_SKIN_TONES = np.array([[205, 225, 255], [170, 200, 240], [140, 180, 225],
                        [110, 150, 200], [80, 115, 165], [55, 80, 120],
                        [40, 60, 95]], float)  # BGR
_HAIR = np.array([[20, 20, 25], [30, 45, 70], [40, 70, 110], [90, 140, 190],
                  [150, 150, 150], [40, 40, 130]], float)


def _noise_field(rng, h: int, w: int, cell: int) -> np.ndarray:
    gh, gw = max(2, h // cell + 2), max(2, w // cell + 2)
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Gradient / noise-texture / floor-wall background plus shapes."""
    kind = int(rng.integers(3))
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    c0, c1 = _hsv_color(rng, 0, 0.8, 0.15, 1), _hsv_color(rng, 0, 0.8, 0.15, 1)
    if kind == 0:  # linear gradient
        a = _u(rng, 0, 2 * math.pi)
        t = xx * math.cos(a) + yy * math.sin(a)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
        t = t[..., None].astype(np.float32)
        img = c0.astype(np.float32) * (1 - t) + c1.astype(np.float32) * t
    elif kind == 1:  # coloured noise texture
        img = np.empty((h, w, 3), np.float32)
        cell = int(rng.integers(6, 40))
        for ch in range(3):
            img[..., ch] = _noise_field(rng, h, w, cell)
        img = c0.astype(np.float32) + img * np.float32(_u(rng, 15, 50))
    else:  # wall + floor
        hz = int(h * _u(rng, 0.3, 0.8))
        img = np.empty((h, w, 3), np.float32)
        t = (yy / h)[..., None]
        img[:] = c0.astype(np.float32) * (0.8 + 0.4 * t)
        img[hz:] = c1.astype(np.float32) * (0.7 + 0.5 * t[hz:])
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(0, 9))):
        col = _col(_hsv_color(rng, 0, 1, 0.1, 1))
        x0, y0 = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
        if rng.random() < 0.5:
            x1 = x0 + int(rng.integers(4, w // 2))
            y1 = y0 + int(rng.integers(4, h // 2))
            cv2.rectangle(img, (x0, y0), (x1, y1), col, -1)
        else:
            cv2.circle(img, (x0, y0), int(rng.integers(3, min(w, h) // 4)),
                       col, -1)
    return img


def _distractors(rng: np.random.Generator, canvas: _Canvas) -> None:
    """Non-person shapes: blobs, sticks and rings (drawn behind people)."""
    w, h = canvas.w, canvas.h
    for _ in range(int(rng.integers(0, 5))):
        m = rng.random()
        if m < 0.35 and rng.random() < 0.5:
            col = _col(_SKIN_TONES[rng.integers(len(_SKIN_TONES))])
        else:
            col = _col(_hsv_color(rng, 0.2, 1, 0.2, 1))
        c = np.array([_u(rng, 0, w), _u(rng, 0, h)])
        if m < 0.35:  # stick(s)
            for _ in range(int(rng.integers(1, 4))):
                a = _u(rng, 0, 2 * math.pi)
                ln = _u(rng, 0.1, 0.4) * h
                e = c + ln * np.array([math.cos(a), math.sin(a)])
                r = _u(rng, 1, 0.025 * h + 1.5)
                canvas.capsule(c, e, r, r * _u(rng, 0.6, 1.0), col, 0)
                c = e
        elif m < 0.7:  # blob: random star-shaped polygon
            n = int(rng.integers(6, 14))
            rad = _u(rng, 0.04, 0.18) * h * rng.uniform(0.6, 1.0, n)
            ang = np.sort(rng.uniform(0, 2 * math.pi, n))
            pts = c + np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)
            cv2.fillPoly(canvas.img, [_fp(pts).reshape(-1, 1, 2)], col,
                         cv2.LINE_8, _SHIFT)
        else:  # ring / ellipse
            ax = (_u(rng, 0.03, 0.15) * h, _u(rng, 0.03, 0.15) * h)
            cv2.ellipse(canvas.img, tuple(int(v) for v in c.round()),
                        tuple(int(a) for a in ax), _u(rng, 0, 180), 0, 360,
                        col, int(rng.integers(-1, 6)) or -1)


class _Person:
    """One sampled person: pose, view, colours and image placement."""

    def __init__(self, rng: np.random.Generator, kind: Optional[str] = None):
        self.pts3d, self.info = sample_person_3d(rng, kind)
        self.kind = self.info['kind']
        m = rng.random()
        if self.kind == 'lying':
            self.yaw = _deg(_u(rng, -40, 40) + (180 if m < 0.3 else 0))
            self.roll = _deg(_u(rng, 70, 110) * (1 if rng.random() < .5 else -1))
        else:
            if m < 0.55:
                yaw = _u(rng, -45, 45)
            elif m < 0.8:
                yaw = _u(rng, 45, 135) * (1 if rng.random() < 0.5 else -1)
            else:
                yaw = _u(rng, 135, 225)
            self.yaw = _deg(yaw)
            self.roll = _deg(rng.normal(0, 5)) if self.kind != 'action' else \
                _deg(rng.normal(0, 15))
        self.skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * _u(
            rng, 0.9, 1.1)
        self.shirt = _hsv_color(rng, 0.2, 1.0, 0.25, 1.0)
        self.pants = _hsv_color(rng, 0.1, 0.9, 0.1, 0.7)
        self.hair = _HAIR[rng.integers(len(_HAIR))] * _u(rng, 0.8, 1.2)
        self.shoes = _hsv_color(rng, 0.0, 0.6, 0.05, 0.5)
        self.long_sleeves = rng.random() < 0.5
        self.shorts = rng.random() < 0.25
        self.light = _u(rng, 0, 2 * math.pi)
        self.tex_amp = _u(rng, 4, 16)
        self.tex_cell = int(rng.integers(3, 12))
        # placement, filled in by the scene
        self.height_px = 1.0
        self.center = (0.0, 0.0)
        self.pts2d: Dict[str, np.ndarray] = {}
        self.depth: Dict[str, float] = {}

    def unit_extent(self) -> Tuple[np.ndarray, np.ndarray]:
        """2D bounding box of the projected unit-height person at origin."""
        p2, _ = project_points(self.pts3d, self.yaw, self.roll, 1.0, (0, 0))
        a = np.stack(list(p2.values()))
        pad = BODY_PROPORTIONS['head_half_h']
        return a.min(0) - pad, a.max(0) + pad

    def place(self, height_px: float, center: Tuple[float, float]) -> None:
        self.height_px = float(height_px)
        self.center = (float(center[0]), float(center[1]))
        self.pts2d, self.depth = project_points(self.pts3d, self.yaw,
                                                self.roll, self.height_px,
                                                self.center)

    def bbox2d(self) -> Tuple[int, int, int, int]:
        a = np.stack(list(self.pts2d.values()))
        pad = 0.1 * self.height_px + 3
        x0, y0 = a.min(0) - pad
        x1, y1 = a.max(0) + pad
        return int(math.floor(x0)), int(math.floor(y0)), int(
            math.ceil(x1)), int(math.ceil(y1))

    # -- drawing ----------------------------------------------------------
    def draw(self, canvas: _Canvas, layer: int, rng: np.random.Generator,
             face_visible: Dict[str, bool]) -> None:
        """Draws the person (back to front) into the canvas with ``layer``."""
        P, D, H = self.pts2d, self.depth, self.height_px
        prop = self.info['prop']

        def z(*names):
            return float(np.mean([D[n] for n in names]))

        def col(base, depth):
            return _shade(base, 0.88 + 0.9 * min(max(depth, -0.15), 0.15))

        outline = H >= 60
        parts: List[Tuple[float, Any]] = []

        def add_capsule(a, b, ra, rb, base, extra=0.0):
            d = z(a, b) + extra
            c = col(base, d)
            dark = _shade(c, 0.6)

            def f():
                if outline:
                    canvas.capsule(P[a], P[b], ra * H + 1, rb * H + 1, dark,
                                   layer)
                canvas.capsule(P[a], P[b], ra * H, rb * H, c, layer)
            parts.append((d, f))

        sleeve_fore = self.shirt if self.long_sleeves else self.skin
        shank_col = self.skin if self.shorts else self.pants
        for s in ('left', 'right'):
            add_capsule(f'{s}_shoulder', f'{s}_elbow', 0.031, 0.024, self.shirt)
            add_capsule(f'{s}_elbow', f'{s}_wrist', 0.023, 0.017, sleeve_fore)
            add_capsule(f'{s}_wrist', f'{s}_hand', 0.018, 0.02, self.skin,
                        0.001)
            add_capsule(f'{s}_hip', f'{s}_knee', 0.05, 0.036, self.pants)
            add_capsule(f'{s}_knee', f'{s}_ankle', 0.034, 0.024, shank_col)
            add_capsule(f'{s}_heel', f'{s}_toe', 0.024, 0.018, self.shoes,
                        0.001)

            def joint(name, r, base, s=s):
                d = D[f'{s}_{name}'] + 0.002
                c = _shade(col(base, d), 0.85)
                parts.append((d, lambda: canvas.circle(
                    P[f'{s}_{name}'], r * H, c, layer)))
            joint('elbow', 0.021, self.shirt if self.long_sleeves else
                  self.skin)
            joint('knee', 0.031, shank_col if self.shorts else self.pants)
            joint('wrist', 0.015, self.skin)
            joint('ankle', 0.02, self.shoes)

        # torso: convex hull of a 3D box between the shoulders and the waist
        view = _view_matrix(self.yaw)
        c_r, s_r = math.cos(self.roll), math.sin(self.roll)
        rt = self.info['torso_frame']

        def proj(v3):
            q = view @ v3
            u, w = q[0], -q[1]
            return np.array([self.center[0] + H * (c_r * u + s_r * w),
                             self.center[1] + H * (-s_r * u + c_r * w)])

        waist_half = prop['hip_half'] + 0.012
        depth = 0.055
        sl, sr = self.pts3d['left_shoulder'], self.pts3d['right_shoulder']
        top = [sl + rt @ np.array([-0.012, 0.012, dz])
               for dz in (-depth, depth)]
        top += [sr + rt @ np.array([0.012, 0.012, dz])
                for dz in (-depth, depth)]
        chest = [sl + rt @ np.array([-0.015, -0.08, dz])
                 for dz in (-depth, depth)]
        chest += [sr + rt @ np.array([0.015, -0.08, dz])
                  for dz in (-depth, depth)]
        waist = self.pts3d['waist']
        mid = [waist + rt @ np.array([sx * waist_half, 0, dz])
               for sx in (-1, 1) for dz in (-depth, depth)]
        hips = [np.array([sx * (waist_half + 0.012), -0.07, dz])
                for sx in (-1, 1) for dz in (-depth, depth)]
        torso2d = np.array([proj(v) for v in top + chest + mid])
        pelvis2d = np.array([proj(v) for v in mid + hips])
        torso2d = cv2.convexHull(torso2d.astype(np.float32))[:, 0]
        pelvis2d = cv2.convexHull(pelvis2d.astype(np.float32))[:, 0]
        dz_t = z('left_shoulder', 'right_shoulder', 'left_hip', 'right_hip')
        shirt_c = col(self.shirt, dz_t)
        pants_c = col(self.pants, dz_t)

        def draw_torso():
            canvas.poly(pelvis2d, pants_c, layer)
            canvas.poly(torso2d, shirt_c, layer)
            # belt line
            wl, wr = proj(mid[0]), proj(mid[2])
            canvas.capsule(wl, wr, 0.008 * H, 0.008 * H, _shade(pants_c, 0.5),
                           layer)
            for s in ('left', 'right'):
                canvas.circle(P[f'{s}_shoulder'], 0.032 * H,
                              _shade(shirt_c, 0.93), layer)
        parts.append((dz_t, draw_torso))

        # head, neck and face
        hf = view @ self.info['head_frame']  # head frame in view space
        up2 = proj(self.pts3d['head'] + self.info['head_frame'] @ _UP) - P[
            'head']
        ang = math.degrees(math.atan2(up2[1], up2[0])) + 90.0
        hw, hh = prop['head_half_w'] * H, prop['head_half_h'] * H
        d_head = D['head']
        skin_c = col(self.skin, d_head)
        face_fwd_z = float(hf[2, 2])

        def draw_head():
            canvas.capsule(P['neck'], P['head'], 0.03 * H, 0.028 * H,
                           _shade(skin_c, 0.85), layer)
            canvas.ellipse(P['head'], (hw, hh), ang, col(self.hair, d_head),
                           layer)
            if face_fwd_z > -0.35:
                fc = proj(self.pts3d['head'] + self.info['head_frame'] @
                          np.array([0.0, -0.012, 0.024]))
                canvas.ellipse(fc, (hw * 0.84, hh * 0.8), ang, skin_c, layer)
            for ear in ('left_ear', 'right_ear'):
                if face_visible[ear]:
                    canvas.ellipse(P[ear], (0.011 * H, 0.017 * H), ang,
                                   _shade(skin_c, 0.8), layer)
            for eye in ('left_eye', 'right_eye'):
                if face_visible[eye]:
                    canvas.circle(P[eye], max(0.0085 * H, 0.8), (255, 255, 255),
                                  layer)
                    canvas.circle(P[eye], max(0.005 * H, 0.6), (30, 20, 10),
                                  layer)
            if face_visible['nose']:
                base = [proj(self.pts3d['head'] + self.info['head_frame'] @
                             np.array([sx * 0.011, 0.004, 0.046]))
                        for sx in (-1, 1)]
                nc = _shade(skin_c, 0.7)
                canvas.poly([base[0], base[1], P['nose']], nc, layer)
                canvas.circle(P['nose'], 0.008 * H, nc, layer)
                mouth = [proj(self.pts3d['head'] + self.info['head_frame'] @
                              np.array([sx * 0.014, -0.034, 0.044]))
                         for sx in (-1, 1)]
                canvas.capsule(mouth[0], mouth[1], 0.0035 * H, 0.0035 * H,
                               (40, 40, 120), layer)
        parts.append((d_head + 0.01, draw_head))

        parts.sort(key=lambda t: t[0])
        for _, f in parts:
            f()

        # texture + directional shading inside the person's pixels
        x0, y0, x1, y1 = self.bbox2d()
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, canvas.w), min(y1, canvas.h)
        if x1 <= x0 or y1 <= y0:
            return
        sub = canvas.layer[y0:y1, x0:x1] == layer
        if not sub.any():
            return
        hh_, ww_ = y1 - y0, x1 - x0
        noise = _noise_field(rng, hh_, ww_, self.tex_cell) * self.tex_amp
        yy = np.arange(y0, y1, dtype=np.float32)[:, None]
        xx = np.arange(x0, x1, dtype=np.float32)[None, :]
        lx, ly = math.cos(self.light), math.sin(self.light)
        grad = ((xx - self.center[0]) * lx + (yy - self.center[1]) * ly) / (
            0.5 * H)
        gain = 1.0 + 0.18 * np.clip(grad, -1, 1)
        region = canvas.img[y0:y1, x0:x1]
        vals = region[sub].astype(np.float32) * gain[sub][:, None] + noise[
            sub][:, None]
        region[sub] = np.clip(vals, 0, 255).astype(np.uint8)


def _face_visibility(person: _Person) -> Dict[str, bool]:
    hf = _view_matrix(person.yaw) @ person.info['head_frame']
    out = {}
    for name, n in _FACE_NORMALS.items():
        nv = hf @ (np.array(n) / np.linalg.norm(n))
        out[name] = bool(nv[2] >= _FACE_VISIBLE_Z)
    return out


def _place_people(rng: np.random.Generator, people: List[_Person], w: int,
                  h: int, truncation_prob: float) -> None:
    n = len(people)
    prev_center = None
    for i, p in enumerate(people):
        lo, hi = p.unit_extent()
        ext = hi - lo
        if n == 1:
            frac = math.exp(_u(rng, math.log(0.3), math.log(1.05)))
        else:
            frac = math.exp(_u(rng, math.log(0.22), math.log(0.85)))
        height_px = frac * h
        truncate = rng.random() < truncation_prob
        if not truncate:  # shrink to fit inside the image
            fit = min((w - 4) / (ext[0] * height_px), (h - 4) / (
                ext[1] * height_px), 1.0)
            height_px *= fit
        bw, bh = ext * height_px
        # position of the bbox top-left corner
        if truncate:
            x0 = _u(rng, -0.6 * bw, w - 0.4 * bw)
            y0 = _u(rng, -0.6 * bh, h - 0.4 * bh)
        else:
            x0 = _u(rng, 1, max(w - bw - 1, 1.0))
            y0 = _u(rng, 1, max(h - bh - 1, 1.0))
            if prev_center is not None and rng.random() < 0.45:
                # overlap with the previous person
                side = 1.0 if rng.random() < 0.5 else -1.0
                cx = prev_center[0] + side * _u(rng, 0.25, 0.8) * bw
                cy = prev_center[1] + rng.normal(0, 0.15) * bh
                x0 = float(np.clip(cx - bw / 2, 1, max(w - bw - 1, 1.0)))
                y0 = float(np.clip(cy - bh / 2, 1, max(h - bh - 1, 1.0)))
        center = (x0 - lo[0] * height_px, y0 - lo[1] * height_px)
        p.place(height_px, center)
        prev_center = (x0 + bw / 2, y0 + bh / 2)


def _occluders(rng: np.random.Generator, canvas: _Canvas,
               people: List[_Person], first_layer: int) -> int:
    """Draws objects over people; returns the number of layers used."""
    used = 0
    for _ in range(int(rng.integers(1, 3))):
        tgt = people[int(rng.integers(len(people)))]
        x0, y0, x1, y1 = tgt.bbox2d()
        bw, bh = max(x1 - x0, 4), max(y1 - y0, 4)
        col = _col(_hsv_color(rng, 0.0, 1.0, 0.1, 1.0))
        m = rng.random()
        if m < 0.4:  # table / wall: horizontal band over the lower body
            cy = _u(rng, y0 + 0.45 * bh, y0 + 0.9 * bh)
            rw = _u(rng, 0.5, 1.6) * bw
            cx = _u(rng, x0, x1)
            pts = [(cx - rw / 2, cy), (cx + rw / 2, cy),
                   (cx + rw / 2, cy + _u(rng, 0.15, 0.5) * bh),
                   (cx - rw / 2, cy + _u(rng, 0.15, 0.5) * bh)]
        elif m < 0.7:  # pole / sign: vertical band
            cx = _u(rng, x0, x1)
            rw = _u(rng, 0.08, 0.3) * bw
            top = _u(rng, y0 - 0.3 * bh, y0 + 0.5 * bh)
            pts = [(cx - rw / 2, top), (cx + rw / 2, top),
                   (cx + rw / 2, top + _u(rng, 0.4, 1.2) * bh),
                   (cx - rw / 2, top + _u(rng, 0.4, 1.2) * bh)]
        else:  # random box
            cx, cy = _u(rng, x0, x1), _u(rng, y0, y1)
            rw, rh = _u(rng, 0.15, 0.5) * bw, _u(rng, 0.1, 0.4) * bh
            a = _u(rng, 0, math.pi)
            rect = cv2.boxPoints(((cx, cy), (rw, rh), math.degrees(a)))
            pts = [tuple(r) for r in rect]
        layer = first_layer + used
        if rng.random() < 0.5:
            canvas.poly(np.array(pts), col, layer)
        else:
            c = np.mean(np.array(pts), 0)
            canvas.ellipse(c, (0.5 * np.ptp(np.array(pts)[:, 0]),
                               0.5 * np.ptp(np.array(pts)[:, 1])), 0, col,
                           layer)
        used += 1
    return used


def _annotate(person: _Person, canvas: _Canvas, layer: int,
              face_visible: Dict[str, bool],
              min_area: int) -> Optional[Dict[str, Any]]:
    """COCO annotation (without ids) of one drawn person, or None if tiny."""
    w, h = canvas.w, canvas.h
    mask = canvas.layer == layer
    area = int(np.count_nonzero(mask))
    if area < min_area:
        return None
    ys, xs = np.nonzero(mask)
    bx0, by0, bx1, by1 = int(xs.min()), int(ys.min()), int(xs.max()), int(
        ys.max())
    kpts: List[Any] = []
    nvis = 0
    for name in COCO_KEYPOINT_NAMES:
        x, y = (float(v) for v in person.pts2d[name])
        if not (0.0 <= x <= w - 1 and 0.0 <= y <= h - 1):
            kpts += [0.0, 0.0, 0]
            continue
        top = int(canvas.layer[int(round(y)), int(round(x))])
        v = 1 if top > layer else 2
        if name in face_visible and not face_visible[name]:
            v = 1
        kpts += [round(x, 2), round(y, 2), v]
        nvis += 1
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    seg = []
    for c in contours:
        if len(c) >= 3:
            seg.append([float(v) for v in c.reshape(-1)])
    return {
        'category_id': 1,
        'keypoints': kpts,
        'num_keypoints': nvis,
        'bbox': [float(bx0), float(by0), float(bx1 - bx0 + 1),
                 float(by1 - by0 + 1)],
        'area': float(area),
        'iscrowd': 0,
        'segmentation': seg,
    }


def _image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    ss = np.random.SeedSequence([seed, _SPLIT_CODES[split], index])
    return np.random.default_rng(ss)


def render_image(rng: np.random.Generator, img_size: Tuple[int, int],
                 max_people: int = 4, min_visible_area: int = 64,
                 occluder_prob: float = 0.4, truncation_prob: float = 0.25,
                 return_background: bool = False):
    """Renders one synthetic image and its person annotations.

    Args:
        rng: Random generator (the image is a pure function of its state).
        img_size: ``(width, height)``.
        max_people: Maximum number of people.
        min_visible_area: People with fewer visible pixels get no annotation.
        occluder_prob: Probability of drawing occluder objects.
        truncation_prob: Per-person probability of leaving the image border.
        return_background: Also return the image before any person and
            occluder was drawn (distractors included).

    Returns:
        ``(image, annotations)`` with a BGR ``uint8`` image and a list of
        COCO annotation dicts without ``id`` / ``image_id``; with
        ``return_background`` a third element, the background image.
    """
    w, h = int(img_size[0]), int(img_size[1])
    canvas = _Canvas(_background(rng, w, h))
    _distractors(rng, canvas)
    background = canvas.img.copy() if return_background else None
    probs = np.array([0.45, 0.25, 0.18, 0.12, 0.06, 0.04, 0.03, 0.02])
    probs = probs[:max_people] / probs[:max_people].sum()
    n = int(rng.choice(max_people, p=probs)) + 1
    people = [_Person(rng) for _ in range(n)]
    _place_people(rng, people, w, h, truncation_prob)
    # far (small) people first, with some shuffling
    keys = [p.height_px * _u(rng, 0.8, 1.25) for p in people]
    order = sorted(range(n), key=lambda i: keys[i])
    people = [people[i] for i in order]
    face_vis = []
    for i, p in enumerate(people):
        fv = _face_visibility(p)
        face_vis.append(fv)
        p.draw(canvas, i + 1, rng, fv)
    if rng.random() < occluder_prob:
        _occluders(rng, canvas, people, n + 1)
    anns = []
    for i, p in enumerate(people):
        a = _annotate(p, canvas, i + 1, face_vis[i], min_visible_area)
        if a is not None:
            anns.append(a)
    img = canvas.img
    # camera effects (do not change geometry)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), _u(rng, 0.4, 0.9))
    sigma = _u(rng, 0, 6)
    gain, bias = _u(rng, 0.85, 1.15), _u(rng, -15, 15)
    noise = np.repeat(rng.standard_normal((h, w, 1), dtype=np.float32), 3, 2)
    noise *= np.float32(sigma)
    noise += img
    noise *= np.float32(gain)
    noise += np.float32(bias)
    img = np.clip(noise, 0, 255).astype(np.uint8)
    if return_background:
        return img, anns, background
    return img, anns


# ----------------------------------------------------------------- generation
def _file_name(index: int) -> str:
    return f'{index + 1:012d}.jpg'


def _worker_init() -> None:
    cv2.setNumThreads(1)


def _render_task(args) -> List[Dict[str, Any]]:
    cfg_d, split, index, img_dir = args
    cfg = SyntheticCocoConfig(**cfg_d)
    rng = _image_rng(cfg.seed, split, index)
    img, anns = render_image(rng, cfg.img_size, cfg.max_people,
                             cfg.min_visible_area, cfg.occluder_prob,
                             cfg.truncation_prob)
    ok, buf = cv2.imencode('.jpg', img,
                           [int(cv2.IMWRITE_JPEG_QUALITY), cfg.jpeg_quality])
    if not ok:  # pragma: no cover
        raise RuntimeError('JPEG encoding failed')
    with open(os.path.join(img_dir, _file_name(index)), 'wb') as f:
        f.write(buf.tobytes())
    return anns


def _detections(seed: int, images: List[Dict[str, Any]],
                anns: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Jittered GT boxes (high score) plus a few low-score false positives."""
    by_img: Dict[int, List[Dict[str, Any]]] = {}
    for a in anns:
        by_img.setdefault(a['image_id'], []).append(a)
    dets = []
    for idx, im in enumerate(images):
        rng = np.random.default_rng(
            np.random.SeedSequence([seed, _DET_STREAM, idx]))
        w, h = im['width'], im['height']
        cur = []

        def add(x0, y0, x1, y1, score):
            x0, y0 = float(np.clip(x0, 0, w - 1)), float(np.clip(y0, 0, h - 1))
            x1, y1 = float(np.clip(x1, x0 + 1, w)), float(np.clip(y1, y0 + 1, h))
            cur.append({'image_id': im['id'], 'category_id': 1,
                        'bbox': [round(x0, 2), round(y0, 2),
                                 round(x1 - x0, 2), round(y1 - y0, 2)],
                        'score': round(float(score), 4)})

        for a in by_img.get(im['id'], []):
            x, y, bw, bh = a['bbox']
            cx = x + bw / 2 + np.clip(rng.normal(0, 0.04), -0.1, 0.1) * bw
            cy = y + bh / 2 + np.clip(rng.normal(0, 0.04), -0.1, 0.1) * bh
            sw = math.exp(float(np.clip(rng.normal(0.02, 0.06), -0.14, 0.14)))
            sh = math.exp(float(np.clip(rng.normal(0.02, 0.06), -0.14, 0.14)))
            bw, bh = bw * sw, bh * sh
            vis = a['num_keypoints'] / 17.0
            score = np.clip(0.55 + 0.3 * vis + rng.normal(0, 0.06), 0.3, 0.999)
            add(cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, score)
        nfp = int(rng.poisson(0.6))
        if not cur and nfp == 0:
            nfp = 1
        for _ in range(nfp):
            bw, bh = _u(rng, 0.08, 0.4) * w, _u(rng, 0.15, 0.6) * h
            x0, y0 = _u(rng, 0, w - bw), _u(rng, 0, h - bh)
            add(x0, y0, x0 + bw, y0 + bh, _u(rng, 0.01, 0.3))
        dets.extend(cur)
    return dets


def _dump_json(obj: Any, path: str) -> None:
    text = json.dumps(obj, separators=(',', ':'), ensure_ascii=True)
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)


def _generate_split(cfg: SyntheticCocoConfig, split: str, count: int,
                    root: str, pool) -> Tuple[str, List, List]:
    img_dir = os.path.join(root, split)
    os.makedirs(img_dir, exist_ok=True)
    cfg_d = asdict(cfg)
    tasks = [(cfg_d, split, i, img_dir) for i in range(count)]
    if pool is None:
        results = [_render_task(t) for t in tasks]
    else:
        results = pool.map(_render_task, tasks, chunksize=8)
    w, h = cfg.img_size
    images, anns = [], []
    for i, img_anns in enumerate(results):
        images.append({'id': i + 1, 'file_name': _file_name(i),
                       'width': int(w), 'height': int(h)})
        for a in img_anns:
            anns.append({'id': len(anns) + 1, 'image_id': i + 1, **a})
    data = {
        'info': dict(_INFO, seed=cfg.seed, split=split),
        'licenses': [],
        'images': images,
        'annotations': anns,
        'categories': [COCO_PERSON_CATEGORY],
    }
    ann_file = os.path.join(root, 'annotations',
                            f'person_keypoints_{split}.json')
    _dump_json(data, ann_file)
    return ann_file, images, anns


def generate_synthetic_coco(out_dir: str,
                            num_train: int = 1000,
                            num_val: int = 150,
                            img_size: Tuple[int, int] = (320, 240),
                            seed: int = 0,
                            max_people: int = 4,
                            min_visible_area: int = 64,
                            jpeg_quality: int = 92,
                            occluder_prob: float = 0.4,
                            truncation_prob: float = 0.25,
                            workers: int = 1) -> SyntheticCocoResult:
    """Writes a synthetic COCO-keypoint dataset to ``out_dir``.

    The output is a pure function of the arguments (except ``workers``):
    image ``i`` of a split is rendered from its own seed derived from
    ``(seed, split, i)``, so the first ``n`` images are the same whatever
    ``num_train`` / ``num_val`` or the number of workers. Existing files of
    the same names are overwritten; other files in ``out_dir`` are left alone.

    Args:
        out_dir: Output directory (created if needed).
        num_train: Number of training images (>= 0).
        num_val: Number of validation images (>= 0).
        img_size: ``(width, height)`` of every image, each in [64, 4096].
        seed: Non-negative master seed.
        max_people: Maximum number of people per image (1-8).
        min_visible_area: Minimum visible pixel count of an annotated person.
        jpeg_quality: JPEG quality of the images (1-100).
        occluder_prob: Probability of occluder objects in an image.
        truncation_prob: Per-person probability of crossing the border.
        workers: Worker processes (0 = ``os.cpu_count()``); does not change
            the output.

    Returns:
        A :class:`SyntheticCocoResult` with the paths and counts.

    Raises:
        ValueError: If an argument is out of range (the message names it).
    """
    if isinstance(img_size, list):
        img_size = tuple(img_size)
    cfg = SyntheticCocoConfig(num_train=num_train, num_val=num_val,
                              img_size=img_size, seed=seed,
                              max_people=max_people,
                              min_visible_area=min_visible_area,
                              jpeg_quality=jpeg_quality,
                              occluder_prob=occluder_prob,
                              truncation_prob=truncation_prob)
    cfg.validate()
    cfg = SyntheticCocoConfig(**dict(
        asdict(cfg), img_size=(int(img_size[0]), int(img_size[1]))))
    if not _is_int(workers) or workers < 0:
        raise ValueError(
            f'workers must be a non-negative integer, got {workers!r}')
    if workers == 0:
        workers = os.cpu_count() or 1
    t0 = time.perf_counter()
    root = os.path.abspath(os.fspath(out_dir))
    os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
    pool = None
    cv_threads = cv2.getNumThreads()
    if workers > 1 and num_train + num_val > 16:
        # fork (where available) spares every worker re-importing the parent
        # package (which may pull in torch); workers use numpy/OpenCV only.
        # OpenCV's thread pool does not survive fork(): switch it off while
        # the workers are forked (restored below).
        method = ('fork' if 'fork' in multiprocessing.get_all_start_methods()
                  else 'spawn')
        cv2.setNumThreads(1)
        pool = multiprocessing.get_context(method).Pool(
            workers, initializer=_worker_init)
    try:
        train_ann, _, train_anns = _generate_split(cfg, 'train', num_train,
                                                   root, pool)
        val_ann, val_images, val_anns = _generate_split(cfg, 'val', num_val,
                                                        root, pool)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
            cv2.setNumThreads(cv_threads)
    dets = _detections(cfg.seed, val_images, val_anns)
    det_file = os.path.join(root, 'annotations',
                            'person_detection_results_val.json')
    _dump_json(dets, det_file)
    return SyntheticCocoResult(
        data_root=root,
        train_ann_file=train_ann,
        val_ann_file=val_ann,
        val_det_file=det_file,
        train_img_dir=os.path.join(root, 'train'),
        val_img_dir=os.path.join(root, 'val'),
        num_train_images=num_train,
        num_val_images=num_val,
        num_train_annotations=len(train_anns),
        num_val_annotations=len(val_anns),
        num_val_detections=len(dets),
        seconds=round(time.perf_counter() - t0, 3))


# ------------------------------------------------------------------------ CLI
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point (also the ``mmpose-lite-synth`` script).

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success (bad arguments exit with status 2 via argparse).
    """
    d = SyntheticCocoConfig()
    parser = argparse.ArgumentParser(
        prog='python -m mmpose_lite.datasets.synthetic',
        description='Generate a deterministic synthetic COCO-keypoint '
        'dataset (train/val images, keypoint annotations and val person '
        'detections).')
    parser.add_argument('out_dir', help='output directory (data_root)')
    parser.add_argument('--num-train', type=int, default=d.num_train)
    parser.add_argument('--num-val', type=int, default=d.num_val)
    parser.add_argument('--seed', type=int, default=d.seed)
    parser.add_argument('--img-size', type=int, nargs=2, default=d.img_size,
                        metavar=('W', 'H'))
    parser.add_argument('--max-people', type=int, default=d.max_people)
    parser.add_argument('--min-visible-area', type=int,
                        default=d.min_visible_area)
    parser.add_argument('--jpeg-quality', type=int, default=d.jpeg_quality)
    parser.add_argument('--occluder-prob', type=float,
                        default=d.occluder_prob)
    parser.add_argument('--truncation-prob', type=float,
                        default=d.truncation_prob)
    parser.add_argument('--workers', type=int, default=1,
                        help='worker processes, 0 = all CPUs (output does '
                        'not depend on it)')
    args = parser.parse_args(argv)
    try:
        res = generate_synthetic_coco(
            args.out_dir, num_train=args.num_train, num_val=args.num_val,
            img_size=tuple(args.img_size), seed=args.seed,
            max_people=args.max_people,
            min_visible_area=args.min_visible_area,
            jpeg_quality=args.jpeg_quality,
            occluder_prob=args.occluder_prob,
            truncation_prob=args.truncation_prob, workers=args.workers)
    except ValueError as e:
        parser.error(str(e))
    print(f'data_root:  {res.data_root}')
    print(f'train: {res.num_train_images} images, '
          f'{res.num_train_annotations} people -> {res.train_ann_file}')
    print(f'val:   {res.num_val_images} images, '
          f'{res.num_val_annotations} people -> {res.val_ann_file}')
    print(f'val detections: {res.num_val_detections} -> {res.val_det_file}')
    print(f'done in {res.seconds:.1f}s')
    sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
