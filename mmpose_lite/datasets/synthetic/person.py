"""A drawn person: pose, view and appearance sampled together, then drawn
with body volume as depth-sorted parts (tapered limbs, joints, a torso box,
a head with face marks), with clothing colours, directional shading and
texture."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .body import BODY_PROPORTIONS, UP, Camera, deg, face_visibility, project_points, sample_person_3d, uniform
from .canvas import Canvas, Color, hsv_color, noise_field, shade

__all__ = ['Person', 'SKIN_TONES']

SKIN_TONES = np.array([[205, 225, 255], [170, 200, 240], [140, 180, 225], [110, 150, 200], [80, 115, 165],
                       [55, 80, 120], [40, 60, 95]], float)  # BGR
_HAIR = np.array([[20, 20, 25], [30, 45, 70], [40, 70, 110], [90, 140, 190], [150, 150, 150], [40, 40, 130]],
                 float)

#: Limb segments of one side: from, to, radii at both ends (fractions of the
#: height), the colour role (see :meth:`Person.color`) and a depth offset
#: that puts hands and feet in front of their limb.
_SEGMENTS = (
    ('shoulder', 'elbow', 0.031, 0.024, 'shirt', 0.0),
    ('elbow', 'wrist', 0.023, 0.017, 'sleeve', 0.0),
    ('wrist', 'hand', 0.018, 0.02, 'skin', 0.001),
    ('hip', 'knee', 0.05, 0.036, 'pants', 0.0),
    ('knee', 'ankle', 0.034, 0.024, 'shank', 0.0),
    ('heel', 'toe', 0.024, 0.018, 'shoes', 0.001),
)
#: Joint discs of one side: point, radius and colour role.
_JOINTS = (('elbow', 0.021, 'sleeve'), ('knee', 0.031, 'shank'), ('wrist', 0.015, 'skin'),
           ('ankle', 0.02, 'shoes'))
#: Torso box half depth (fraction of the height).
_TORSO_DEPTH = 0.055


def _depth_shade(base: Sequence[float], depth: float) -> Color:
    """``base`` lit by depth: parts closer to the camera are brighter."""
    return shade(base, 0.88 + 0.9 * min(max(depth, -0.15), 0.15))


@dataclass(frozen=True)
class _Segment:
    """A limb segment: a capsule, with a dark outline on large people."""

    p0: np.ndarray
    p1: np.ndarray
    r0: float
    r1: float
    color: Color
    outline: bool

    def draw(self, canvas: Canvas, layer: int) -> None:
        if self.outline:
            canvas.capsule(self.p0, self.p1, self.r0 + 1, self.r1 + 1, shade(self.color, 0.6), layer)
        canvas.capsule(self.p0, self.p1, self.r0, self.r1, self.color, layer)


@dataclass(frozen=True)
class _Disc:
    """A joint: a filled circle."""

    center: np.ndarray
    radius: float
    color: Color

    def draw(self, canvas: Canvas, layer: int) -> None:
        canvas.circle(self.center, self.radius, self.color, layer)


@dataclass(frozen=True)
class _Torso:
    """Pelvis and chest polygons, a belt line and shoulder caps."""

    pelvis: np.ndarray
    chest: np.ndarray
    belt: Tuple[np.ndarray, np.ndarray]
    shoulders: Tuple[np.ndarray, np.ndarray]
    height_px: float
    shirt: Color
    pants: Color

    def draw(self, canvas: Canvas, layer: int) -> None:
        h = self.height_px
        canvas.poly(self.pelvis, self.pants, layer)
        canvas.poly(self.chest, self.shirt, layer)
        canvas.capsule(*self.belt, 0.008 * h, 0.008 * h, shade(self.pants, 0.5), layer)
        for p in self.shoulders:
            canvas.circle(p, 0.032 * h, shade(self.shirt, 0.93), layer)


@dataclass(frozen=True)
class _Head:
    """Neck, hair-coloured head, face and the visible face marks."""

    pts: Dict[str, np.ndarray]
    half_axes: Tuple[float, float]
    angle: float
    height_px: float
    skin: Color
    hair: Color
    face_center: Optional[np.ndarray]
    face_visible: Dict[str, bool]
    nose_base: Tuple[np.ndarray, np.ndarray]
    mouth: Tuple[np.ndarray, np.ndarray]

    def draw(self, canvas: Canvas, layer: int) -> None:
        P, h, (hw, hh), ang = self.pts, self.height_px, self.half_axes, self.angle
        canvas.capsule(P['neck'], P['head'], 0.03 * h, 0.028 * h, shade(self.skin, 0.85), layer)
        canvas.ellipse(P['head'], (hw, hh), ang, self.hair, layer)
        if self.face_center is not None:
            canvas.ellipse(self.face_center, (hw * 0.84, hh * 0.8), ang, self.skin, layer)
        for ear in ('left_ear', 'right_ear'):
            if self.face_visible[ear]:
                canvas.ellipse(P[ear], (0.011 * h, 0.017 * h), ang, shade(self.skin, 0.8), layer)
        for eye in ('left_eye', 'right_eye'):
            if self.face_visible[eye]:
                canvas.circle(P[eye], max(0.0085 * h, 0.8), (255, 255, 255), layer)
                canvas.circle(P[eye], max(0.005 * h, 0.6), (30, 20, 10), layer)
        if self.face_visible['nose']:
            nose = shade(self.skin, 0.7)
            canvas.poly([*self.nose_base, P['nose']], nose, layer)
            canvas.circle(P['nose'], 0.008 * h, nose, layer)
            canvas.capsule(*self.mouth, 0.0035 * h, 0.0035 * h, (40, 40, 120), layer)


_Part = Union[_Segment, _Disc, _Torso, _Head]


class Person:
    """One sampled person: pose, view, colours and image placement.

    Args:
        rng: Random generator.
        kind: Pose kind (see :func:`~.body.sample_person_3d`); random if
            ``None``.
    """

    def __init__(self, rng: np.random.Generator, kind: Optional[str] = None):
        self.pts3d, self.info = sample_person_3d(rng, kind)
        self.kind = self.info['kind']
        self.yaw, self.roll = self._sample_view(rng)
        self.skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * uniform(rng, 0.9, 1.1)
        self.shirt = hsv_color(rng, 0.2, 1.0, 0.25, 1.0)
        self.pants = hsv_color(rng, 0.1, 0.9, 0.1, 0.7)
        self.hair = _HAIR[rng.integers(len(_HAIR))] * uniform(rng, 0.8, 1.2)
        self.shoes = hsv_color(rng, 0.0, 0.6, 0.05, 0.5)
        self.long_sleeves = rng.random() < 0.5
        self.shorts = rng.random() < 0.25
        self.light = uniform(rng, 0, 2 * math.pi)
        self.tex_amp = uniform(rng, 4, 16)
        self.tex_cell = int(rng.integers(3, 12))
        # placement, set by place()
        self.height_px = 1.0
        self.center = (0.0, 0.0)
        self.pts2d: Dict[str, np.ndarray] = {}
        self.depth: Dict[str, float] = {}

    def _sample_view(self, rng: np.random.Generator) -> Tuple[float, float]:
        """Yaw (front, side or back view) and in-plane roll (lying people
        on their side)."""
        m = rng.random()
        if self.kind == 'lying':
            yaw = deg(uniform(rng, -40, 40) + (180 if m < 0.3 else 0))
            return yaw, deg(uniform(rng, 70, 110) * (1 if rng.random() < .5 else -1))
        if m < 0.55:
            yaw = uniform(rng, -45, 45)
        elif m < 0.8:
            yaw = uniform(rng, 45, 135) * (1 if rng.random() < 0.5 else -1)
        else:
            yaw = uniform(rng, 135, 225)
        roll = deg(rng.normal(0, 5)) if self.kind != 'action' else deg(rng.normal(0, 15))
        return deg(yaw), roll

    @property
    def camera(self) -> Camera:
        """The person's view and placement."""
        return Camera(self.yaw, self.roll, self.height_px, self.center)

    def face_visibility(self) -> Dict[str, bool]:
        """Face keypoint name -> drawn and visible (facing the camera)."""
        return face_visibility(self.yaw, self.info['head_frame'])

    def color(self, role: str) -> np.ndarray:
        """The base colour of a body part: ``'skin'``, ``'shirt'``,
        ``'pants'``, ``'shoes'``, ``'sleeve'`` (forearm: shirt or skin) or
        ``'shank'`` (pants or skin)."""
        if role == 'sleeve':
            return self.shirt if self.long_sleeves else self.skin
        if role == 'shank':
            return self.skin if self.shorts else self.pants
        return getattr(self, role)

    def unit_extent(self) -> Tuple[np.ndarray, np.ndarray]:
        """2D bounding box of the projected unit-height person at origin."""
        p2, _ = project_points(self.pts3d, self.yaw, self.roll, 1.0, (0, 0))
        a = np.stack(list(p2.values()))
        pad = BODY_PROPORTIONS['head_half_h']
        return a.min(0) - pad, a.max(0) + pad

    def place(self, height_px: float, center: Tuple[float, float]) -> None:
        """Sets the standing height in pixels and the image position of the
        hip-joint midpoint, and projects the points."""
        self.height_px = float(height_px)
        self.center = (float(center[0]), float(center[1]))
        self.pts2d, self.depth = project_points(self.pts3d, self.yaw, self.roll, self.height_px, self.center)

    def bbox2d(self) -> Tuple[int, int, int, int]:
        """Padded integer box ``(x0, y0, x1, y1)`` around the projected
        points."""
        a = np.stack(list(self.pts2d.values()))
        pad = 0.1 * self.height_px + 3
        x0, y0 = a.min(0) - pad
        x1, y1 = a.max(0) + pad
        return int(math.floor(x0)), int(math.floor(y0)), int(math.ceil(x1)), int(math.ceil(y1))

    # -- parts -----------------------------------------------------------
    def _mean_depth(self, *names: str) -> float:
        return float(np.mean([self.depth[n] for n in names]))

    def _side_parts(self, side: str) -> List[Tuple[float, _Part]]:
        """Limb segments, then joints, of one body side, with their depths."""
        P, H = self.pts2d, self.height_px
        parts: List[Tuple[float, _Part]] = []
        for a, b, ra, rb, role, extra in _SEGMENTS:
            d = self._mean_depth(f'{side}_{a}', f'{side}_{b}') + extra
            parts.append((d, _Segment(P[f'{side}_{a}'], P[f'{side}_{b}'], ra * H, rb * H,
                                      _depth_shade(self.color(role), d), H >= 60)))
        for name, r, role in _JOINTS:
            d = self.depth[f'{side}_{name}'] + 0.002
            parts.append((d, _Disc(P[f'{side}_{name}'], r * H, shade(_depth_shade(self.color(role), d), 0.85))))
        return parts

    def _torso(self) -> Tuple[float, _Torso]:
        """The torso: convex hulls of 3D boxes between the shoulders and the
        waist (chest) and the waist and the hips (pelvis)."""
        cam, rt, pts = self.camera, self.info['torso_frame'], self.pts3d
        view = cam.view
        waist_half = self.info['prop']['hip_half'] + 0.012
        dzs = (-_TORSO_DEPTH, _TORSO_DEPTH)
        sl, sr = pts['left_shoulder'], pts['right_shoulder']
        top = [sl + rt @ np.array([-0.012, 0.012, dz]) for dz in dzs]
        top += [sr + rt @ np.array([0.012, 0.012, dz]) for dz in dzs]
        chest = [sl + rt @ np.array([-0.015, -0.08, dz]) for dz in dzs]
        chest += [sr + rt @ np.array([0.015, -0.08, dz]) for dz in dzs]
        mid = [pts['waist'] + rt @ np.array([sx * waist_half, 0, dz]) for sx in (-1, 1) for dz in dzs]
        hips = [np.array([sx * (waist_half + 0.012), -0.07, dz]) for sx in (-1, 1) for dz in dzs]

        def hull(points3d):
            p2d = np.array([cam.project(v, view)[0] for v in points3d])
            return cv2.convexHull(p2d.astype(np.float32))[:, 0]

        d = self._mean_depth('left_shoulder', 'right_shoulder', 'left_hip', 'right_hip')
        belt = (cam.project(mid[0], view)[0], cam.project(mid[2], view)[0])
        return d, _Torso(hull(mid + hips), hull(top + chest + mid), belt,
                         (self.pts2d['left_shoulder'], self.pts2d['right_shoulder']), self.height_px,
                         _depth_shade(self.shirt, d), _depth_shade(self.pants, d))

    def _head(self, face_visible: Dict[str, bool]) -> Tuple[float, _Head]:
        """The head, in front of the body parts at its depth."""
        cam, frame, head = self.camera, self.info['head_frame'], self.pts3d['head']
        view = cam.view
        H, prop, d = self.height_px, self.info['prop'], self.depth['head']

        def on_head(offset) -> np.ndarray:
            return cam.project(head + frame @ np.asarray(offset), view)[0]

        up2 = on_head(UP) - self.pts2d['head']
        face_fwd_z = float((view @ frame)[2, 2])
        skin = _depth_shade(self.skin, d)
        return d + 0.01, _Head(
            self.pts2d, (prop['head_half_w'] * H, prop['head_half_h'] * H),
            math.degrees(math.atan2(up2[1], up2[0])) + 90.0, H, skin, _depth_shade(self.hair, d),
            on_head([0.0, -0.012, 0.024]) if face_fwd_z > -0.35 else None, face_visible,
            tuple(on_head([sx * 0.011, 0.004, 0.046]) for sx in (-1, 1)),
            tuple(on_head([sx * 0.014, -0.034, 0.044]) for sx in (-1, 1)))

    def parts(self, face_visible: Dict[str, bool]) -> List[_Part]:
        """Every part of the person, back to front."""
        parts = self._side_parts('left') + self._side_parts('right')
        parts += [self._torso(), self._head(face_visible)]
        parts.sort(key=lambda t: t[0])
        return [p for _, p in parts]

    # -- drawing ---------------------------------------------------------
    def draw(self, canvas: Canvas, layer: int, rng: np.random.Generator, face_visible: Dict[str, bool]) -> None:
        """Draws the person (back to front) into the canvas with ``layer``,
        then shades and textures the pixels it covers."""
        for part in self.parts(face_visible):
            part.draw(canvas, layer)
        self._shade_and_texture(canvas, layer, rng)

    def _shade_and_texture(self, canvas: Canvas, layer: int, rng: np.random.Generator) -> None:
        """Directional light and noise texture on the person's visible pixels."""
        x0, y0, x1, y1 = self.bbox2d()
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, canvas.w), min(y1, canvas.h)
        if x1 <= x0 or y1 <= y0:
            return
        sub = canvas.layer[y0:y1, x0:x1] == layer
        if not sub.any():
            return
        noise = noise_field(rng, y1 - y0, x1 - x0, self.tex_cell) * self.tex_amp
        yy = np.arange(y0, y1, dtype=np.float32)[:, None]
        xx = np.arange(x0, x1, dtype=np.float32)[None, :]
        lx, ly = math.cos(self.light), math.sin(self.light)
        grad = ((xx - self.center[0]) * lx + (yy - self.center[1]) * ly) / (0.5 * self.height_px)
        gain = 1.0 + 0.18 * np.clip(grad, -1, 1)
        region = canvas.img[y0:y1, x0:x1]
        vals = region[sub].astype(np.float32) * gain[sub][:, None] + noise[sub][:, None]
        region[sub] = np.clip(vals, 0, 255).astype(np.uint8)
