"""The drawing surface: an image plus a per-pixel layer buffer (which item is
on top), sub-pixel filled primitives and the colour helpers.

Every item drawn with a layer number ``> 0`` also writes that number into
the layer buffer, so after drawing ``canvas.layer`` tells for each pixel
which person (or occluder) is visible there: the annotation step derives
visibility and areas from it.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import cv2
import numpy as np

from .body import uniform

__all__ = ['Canvas', 'Color', 'clip_color', 'shade', 'hsv_color', 'noise_field', 'fixed_point', 'SHIFT']

#: cv2 fixed-point sub-pixel bits
SHIFT = 4
_SCALE = float(1 << SHIFT)

Color = Tuple[int, int, int]


def fixed_point(pts) -> np.ndarray:
    """Points as cv2's fixed-point integers (``SHIFT`` fractional bits)."""
    return np.round(np.asarray(pts, np.float64) * _SCALE).astype(np.int32)


def _fixed_point_xy(p) -> Tuple[int, int]:
    return (int(round(float(p[0]) * _SCALE)), int(round(float(p[1]) * _SCALE)))


class Canvas:
    """An image plus a per-pixel layer buffer (which item is on top).

    Args:
        img: The BGR ``uint8`` image, drawn into in place.
    """

    def __init__(self, img: np.ndarray):
        self.img = img
        self.layer = np.zeros(img.shape[:2], np.uint8)
        self.h, self.w = img.shape[:2]

    def circle(self, c, r, color, layer: int) -> None:
        """Filled circle of radius ``r`` (at least 0.7 px)."""
        cc = _fixed_point_xy(c)
        rr = int(round(max(float(r), 0.7) * _SCALE))
        cv2.circle(self.img, cc, rr, color, -1, cv2.LINE_8, SHIFT)
        if layer:
            cv2.circle(self.layer, cc, rr, layer, -1, cv2.LINE_8, SHIFT)

    def poly(self, pts, color, layer: int) -> None:
        """Filled convex polygon."""
        p = fixed_point(pts).reshape(-1, 1, 2)
        cv2.fillConvexPoly(self.img, p, color, cv2.LINE_8, SHIFT)
        if layer:
            cv2.fillConvexPoly(self.layer, p, layer, cv2.LINE_8, SHIFT)

    def ellipse(self, c, axes, angle_deg, color, layer: int) -> None:
        """Filled ellipse with half-axes ``axes`` rotated by ``angle_deg``."""
        cc = _fixed_point_xy(c)
        ax = tuple(int(round(max(a, 0.7) * _SCALE)) for a in axes)
        cv2.ellipse(self.img, cc, ax, angle_deg, 0, 360, color, -1, cv2.LINE_8, SHIFT)
        if layer:
            cv2.ellipse(self.layer, cc, ax, angle_deg, 0, 360, layer, -1, cv2.LINE_8, SHIFT)

    def capsule(self, p0, p1, r0, r1, color, layer: int) -> None:
        """Tapered segment: circles of radii ``r0``, ``r1`` at the ends and
        the quadrilateral between them."""
        x0, y0 = float(p0[0]), float(p0[1])
        x1, y1 = float(p1[0]), float(p1[1])
        r0, r1 = max(float(r0), 0.7), max(float(r1), 0.7)
        self.circle((x0, y0), r0, color, layer)
        self.circle((x1, y1), r1, color, layer)
        n = math.hypot(x1 - x0, y1 - y0)
        if n > 1e-6:
            qx, qy = (y0 - y1) / n, (x1 - x0) / n
            self.poly([(x0 + qx * r0, y0 + qy * r0), (x1 + qx * r1, y1 + qy * r1),
                       (x1 - qx * r1, y1 - qy * r1), (x0 - qx * r0, y0 - qy * r0)], color, layer)


def clip_color(c: Sequence[float]) -> Color:
    """The first three channels as ints in [0, 255] (truncated)."""
    return tuple(int(min(max(float(v), 0.0), 255.0)) for v in c[:3])


def shade(c: Sequence[float], f: float) -> Color:
    """``c`` scaled by ``f``, clipped."""
    return clip_color([float(v) * f for v in c[:3]])


def hsv_color(rng: np.random.Generator, s_lo=0.3, s_hi=1.0, v_lo=0.3, v_hi=1.0) -> np.ndarray:
    """A random BGR colour (float array) of any hue, with saturation and
    value drawn from the given ranges."""
    hsv = np.uint8([[[rng.integers(0, 180), int(255 * uniform(rng, s_lo, s_hi)),
                      int(255 * uniform(rng, v_lo, v_hi))]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(float)


def noise_field(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth ``(h, w)`` float32 noise: a grid of normal samples every
    ``cell`` pixels, cubic-interpolated."""
    gh, gw = max(2, h // cell + 2), max(2, w // cell + 2)
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
