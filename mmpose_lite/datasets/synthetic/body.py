"""Body model: a 3D stick figure with anatomical proportions and joint
angles, and the orthographic camera that puts it into the image.

People are built by forward kinematics in a body frame (x = the person's
left, y = up, z = the facing direction; origin at the hip-joint midpoint),
with unit standing height. The camera rotates them about the vertical axis
(front / side / back views), projects orthographically, rotates in the image
plane (e.g. lying people), scales and places them. Because the view rotation
is a real 3D rotation, left/right labels are always anatomically correct: a
person seen from the front has the left shoulder on the image right, a
person seen from the back on the image left.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

__all__ = ['BODY_PROPORTIONS', 'POSE_KINDS', 'sample_person_3d', 'Camera', 'project_points',
           'face_visibility', 'UP']

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

# face features in the head frame (x = person's left, y = up, z = forward):
# position (fractions of standing height) and outward normal
_FACE_FEATURES = {
    'nose': ((0.0, -0.012, 0.058), (0.0, -0.1, 1.0)),
    'left_eye': ((0.02, 0.01, 0.046), (0.35, 0.15, 0.92)),
    'right_eye': ((-0.02, 0.01, 0.046), (-0.35, 0.15, 0.92)),
    'left_ear': ((0.047, 0.0, -0.004), (1.0, 0.0, -0.05)),
    'right_ear': ((-0.047, 0.0, -0.004), (-1.0, 0.0, -0.05)),
}
# a face feature is drawn (and visible) iff its view-space normal has
# z >= this threshold (z points towards the camera)
_FACE_VISIBLE_Z = -0.2

POSE_KINDS = ('standing', 'walking', 'arms_raised', 'sitting', 'lying', 'action')
_POSE_PROBS = (0.27, 0.25, 0.15, 0.1, 0.07, 0.16)

_DOWN = np.array([0.0, -1.0, 0.0])
UP = np.array([0.0, 1.0, 0.0])
_FWD = np.array([0.0, 0.0, 1.0])
_MIRROR = np.diag([-1.0, 1.0, 1.0])


def _rot_x(a: float) -> np.ndarray:
    """Rotation about x; positive angles swing a hanging limb forward."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


def rot_y(a: float) -> np.ndarray:
    """Rotation about the vertical axis; positive turns +z towards +x."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    """Rotation about z; positive swings a hanging limb towards +x."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One uniform draw as a Python float."""
    return float(rng.uniform(lo, hi))


def deg(x: float) -> float:
    """Degrees to radians."""
    return x * math.pi / 180.0


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


def _sample_angles(rng: np.random.Generator, kind: str) -> Dict[str, Any]:
    """Samples joint angles (degrees) for one pose kind."""
    u = uniform
    a: Dict[str, Any] = {
        'lean': u(rng, -5, 10), 'side': u(rng, -6, 6), 'twist': u(rng, -10, 10),
        'nod': u(rng, -15, 20), 'tilt': u(rng, -12, 12), 'turn': u(rng, -30, 30)
    }
    arms: List[Tuple[float, ...]] = []
    legs: List[Tuple[float, ...]] = []
    if kind == 'standing':
        for _ in range(2):
            if rng.random() < 0.15:  # hand on hip
                arms.append((u(rng, -15, 5), u(rng, 30, 50), u(rng, 80, 115), u(rng, 50, 80)))
            else:
                arms.append((u(rng, -10, 25), u(rng, 4, 25), u(rng, 0, 35), u(rng, -20, 30)))
            legs.append((u(rng, -6, 12), u(rng, 0, 12), u(rng, 0, 15), 0.0))
    elif kind == 'walking':
        s = u(rng, 12, 35)
        front = int(rng.integers(2))
        for side in range(2):
            sgn = 1.0 if side == front else -1.0
            legs.append((sgn * s + u(rng, -4, 4), u(rng, 0, 8),
                         u(rng, 3, 25) if sgn > 0 else u(rng, 10, 45), 0.0))
            arms.append((-sgn * u(rng, 8, 35), u(rng, 4, 15), u(rng, 10, 50), u(rng, -10, 20)))
        a['lean'] = u(rng, 0, 12)
    elif kind == 'arms_raised':
        for _ in range(2):
            m = rng.random()
            if m < 0.4:  # overhead
                arms.append((u(rng, 140, 180), u(rng, 0, 35), u(rng, 0, 45), u(rng, -30, 30)))
            elif m < 0.8:  # sideways, possibly goal-post
                arms.append((u(rng, -10, 30), u(rng, 65, 115), u(rng, 0, 110), u(rng, -90, 20)))
            else:  # down
                arms.append((u(rng, -10, 30), u(rng, 4, 25), u(rng, 0, 40), u(rng, -20, 30)))
            legs.append((u(rng, -5, 12), u(rng, 0, 15), u(rng, 0, 15), 0.0))
    elif kind == 'sitting':
        for _ in range(2):
            arms.append((u(rng, 10, 50), u(rng, 0, 20), u(rng, 30, 95), u(rng, -30, 30)))
            legs.append((u(rng, 65, 100), u(rng, 0, 18), u(rng, 60, 110), 0.0))
        a['lean'] = u(rng, -8, 20)
    elif kind == 'lying':
        for _ in range(2):
            arms.append((u(rng, -15, 170), u(rng, 0, 90), u(rng, 0, 90), u(rng, -60, 60)))
            legs.append((u(rng, -10, 40), u(rng, 0, 20), u(rng, 0, 60), 0.0))
        a['lean'] = u(rng, -10, 10)
    else:  # action: anything inside anatomical ranges
        for _ in range(2):
            arms.append((u(rng, -40, 180), u(rng, 0, 150), u(rng, 0, 140), u(rng, -90, 90)))
            legs.append((u(rng, -25, 110), u(rng, 0, 45), u(rng, 0, 135), 0.0))
        a['lean'] = u(rng, -15, 40)
        a['side'] = u(rng, -25, 25)
        a['twist'] = u(rng, -30, 30)
    if rng.random() < 0.5:  # random left/right assignment of the two sides
        arms.reverse()
        legs.reverse()
    a['arms'] = arms  # (flex, abd, bend, twist) for left, right
    a['legs'] = legs
    return a


def _build_skeleton(rng: np.random.Generator, kind: str) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
    """Builds a 3D person of unit height by forward kinematics.

    Args:
        rng: Random generator.
        kind: One of ``POSE_KINDS``.

    Returns:
        A dict of 3D points in the body frame (the 17 COCO keypoints plus
        helper points for drawing) and a dict of per-person geometry
        (``prop``: proportions, ``head_frame`` and ``torso_frame``:
        rotations, ``kind``).
    """
    p = {k: v * uniform(rng, 0.93, 1.07) for k, v in BODY_PROPORTIONS.items()}
    g = uniform(rng, 0.92, 1.08)  # global build (broad / narrow)
    p['shoulder_half'] *= g
    p['hip_half'] *= g
    ang = _sample_angles(rng, kind)
    rt = _rot_z(deg(ang['side'])) @ _rot_x(-deg(ang['lean'])) @ rot_y(deg(ang['twist']))
    pts: Dict[str, np.ndarray] = {}
    sh_mid = rt @ np.array([0.0, p['torso'], 0.0])
    pts['neck'] = sh_mid
    pts['waist'] = rt @ np.array([0.0, 0.1 * p['torso'], 0.0])
    for side, sgn in (('left', 1.0), ('right', -1.0)):
        mir = np.eye(3) if sgn > 0 else _MIRROR
        i = 0 if sgn > 0 else 1
        # arm
        fl, ab, be, tw = ang['arms'][i]
        d1, d2, d3 = _limb_dirs(deg(fl), deg(ab), deg(be), deg(tw), 1.0)
        d1, d2, d3 = rt @ mir @ d1, rt @ mir @ d2, rt @ mir @ d3
        sh = sh_mid + rt @ np.array([sgn * p['shoulder_half'], 0.0, 0.0])
        pts[f'{side}_shoulder'] = sh
        pts[f'{side}_elbow'] = sh + p['upper_arm'] * d1
        pts[f'{side}_wrist'] = pts[f'{side}_elbow'] + p['forearm'] * d2
        pts[f'{side}_hand'] = pts[f'{side}_wrist'] + p['hand'] * d3
        # leg
        fl, ab, be, tw = ang['legs'][i]
        d1, d2, d3 = _limb_dirs(deg(fl), deg(ab), deg(be), deg(tw), -1.0)
        d1, d2, d3 = mir @ d1, mir @ d2, mir @ d3
        hip = np.array([sgn * p['hip_half'], 0.0, 0.0])
        pts[f'{side}_hip'] = hip
        pts[f'{side}_knee'] = hip + p['thigh'] * d1
        pts[f'{side}_ankle'] = pts[f'{side}_knee'] + p['shank'] * d2
        pts[f'{side}_heel'] = pts[f'{side}_ankle'] - 0.2 * p['foot'] * d3
        pts[f'{side}_toe'] = pts[f'{side}_ankle'] + 0.8 * p['foot'] * d3
    rh = rt @ _rot_x(-deg(ang['nod'])) @ _rot_z(deg(ang['tilt']))
    head_c = sh_mid + p['neck'] * (rh @ UP)
    head_frame = rh @ rot_y(deg(ang['turn']))
    pts['head'] = head_c
    for name, (off, _) in _FACE_FEATURES.items():
        pts[name] = head_c + head_frame @ np.array(off) * (p['head_half_w'] / BODY_PROPORTIONS['head_half_w'])
    info = {'prop': p, 'head_frame': head_frame, 'kind': kind, 'torso_frame': rt}
    return pts, info


def sample_person_3d(rng: np.random.Generator,
                     kind: Optional[str] = None) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
    """Samples a 3D person of unit height.

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
        kind = POSE_KINDS[int(rng.choice(len(POSE_KINDS), p=_POSE_PROBS))]
    elif kind not in POSE_KINDS:
        raise ValueError(f'unknown pose kind {kind!r}; expected one of {POSE_KINDS}')
    return _build_skeleton(rng, kind)


@dataclass(frozen=True)
class Camera:
    """Orthographic view of one person.

    Attributes:
        yaw: Rotation about the vertical axis in radians; 0 faces the camera.
        roll: In-plane rotation in radians (counter-clockwise on screen).
        height_px: Standing height of the person in pixels.
        center: Image position of the hip-joint midpoint.
    """

    yaw: float
    roll: float
    height_px: float
    center: Tuple[float, float]

    @property
    def view(self) -> np.ndarray:
        """Body -> view rotation; view x = image right, y = up, z = to camera."""
        return rot_y(self.yaw)

    def project(self, v: np.ndarray, view: Optional[np.ndarray] = None) -> Tuple[np.ndarray, float]:
        """Image position (x right, y down) and view-space depth (larger is
        closer to the camera) of the body-frame point ``v``."""
        q = (self.view if view is None else view) @ v
        c, s = math.cos(self.roll), math.sin(self.roll)
        u, w = q[0], -q[1]
        x = c * u + s * w
        y = -s * u + c * w
        return np.array([self.center[0] + self.height_px * x, self.center[1] + self.height_px * y]), float(q[2])


def project_points(points: Dict[str, np.ndarray], yaw: float, roll: float, height_px: float,
                   center: Tuple[float, float]) -> Tuple[Dict[str, np.ndarray], Dict[str, float]]:
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
    cam = Camera(yaw, roll, height_px, center)
    view = cam.view
    out, depth = {}, {}
    for k, v in points.items():
        out[k], depth[k] = cam.project(v, view)
    return out, depth


def face_visibility(yaw: float, head_frame: np.ndarray) -> Dict[str, bool]:
    """Whether each face keypoint (nose, eyes, ears) faces the camera enough
    to be drawn and annotated visible.

    Args:
        yaw: The camera's yaw (see :class:`Camera`).
        head_frame: The head's rotation in the body frame.

    Returns:
        Face keypoint name -> visible.
    """
    hf = rot_y(yaw) @ head_frame
    out = {}
    for name, (_, n) in _FACE_FEATURES.items():
        nv = hf @ (np.array(n) / np.linalg.norm(n))
        out[name] = bool(nv[2] >= _FACE_VISIBLE_Z)
    return out
