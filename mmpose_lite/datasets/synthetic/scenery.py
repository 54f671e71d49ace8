"""Everything in an image that is not a person: the background, distractor
shapes drawn behind people, and occluder objects drawn over them."""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from .body import uniform
from .canvas import SHIFT, Canvas, clip_color, fixed_point, hsv_color, noise_field
from .person import SKIN_TONES, Person

__all__ = ['background', 'draw_distractors', 'draw_occluders']


def background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A ``(h, w, 3)`` BGR background: a gradient, a noise texture or a
    wall and floor, plus a few rectangles and discs."""
    kind = int(rng.integers(3))
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    c0, c1 = hsv_color(rng, 0, 0.8, 0.15, 1), hsv_color(rng, 0, 0.8, 0.15, 1)
    if kind == 0:  # linear gradient
        a = uniform(rng, 0, 2 * math.pi)
        t = xx * math.cos(a) + yy * math.sin(a)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
        t = t[..., None].astype(np.float32)
        img = c0.astype(np.float32) * (1 - t) + c1.astype(np.float32) * t
    elif kind == 1:  # coloured noise texture
        img = np.empty((h, w, 3), np.float32)
        cell = int(rng.integers(6, 40))
        for ch in range(3):
            img[..., ch] = noise_field(rng, h, w, cell)
        img = c0.astype(np.float32) + img * np.float32(uniform(rng, 15, 50))
    else:  # wall + floor
        hz = int(h * uniform(rng, 0.3, 0.8))
        img = np.empty((h, w, 3), np.float32)
        t = (yy / h)[..., None]
        img[:] = c0.astype(np.float32) * (0.8 + 0.4 * t)
        img[hz:] = c1.astype(np.float32) * (0.7 + 0.5 * t[hz:])
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(0, 9))):
        col = clip_color(hsv_color(rng, 0, 1, 0.1, 1))
        x0, y0 = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
        if rng.random() < 0.5:
            x1 = x0 + int(rng.integers(4, w // 2))
            y1 = y0 + int(rng.integers(4, h // 2))
            cv2.rectangle(img, (x0, y0), (x1, y1), col, -1)
        else:
            cv2.circle(img, (x0, y0), int(rng.integers(3, min(w, h) // 4)), col, -1)
    return img


def draw_distractors(rng: np.random.Generator, canvas: Canvas) -> None:
    """Non-person shapes (sticks, possibly skin-coloured, blobs and rings),
    drawn behind people without a layer."""
    w, h = canvas.w, canvas.h
    for _ in range(int(rng.integers(0, 5))):
        m = rng.random()
        if m < 0.35 and rng.random() < 0.5:
            col = clip_color(SKIN_TONES[rng.integers(len(SKIN_TONES))])
        else:
            col = clip_color(hsv_color(rng, 0.2, 1, 0.2, 1))
        c = np.array([uniform(rng, 0, w), uniform(rng, 0, h)])
        if m < 0.35:  # stick(s)
            for _ in range(int(rng.integers(1, 4))):
                a = uniform(rng, 0, 2 * math.pi)
                ln = uniform(rng, 0.1, 0.4) * h
                e = c + ln * np.array([math.cos(a), math.sin(a)])
                r = uniform(rng, 1, 0.025 * h + 1.5)
                canvas.capsule(c, e, r, r * uniform(rng, 0.6, 1.0), col, 0)
                c = e
        elif m < 0.7:  # blob: random star-shaped polygon
            n = int(rng.integers(6, 14))
            rad = uniform(rng, 0.04, 0.18) * h * rng.uniform(0.6, 1.0, n)
            ang = np.sort(rng.uniform(0, 2 * math.pi, n))
            pts = c + np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)
            cv2.fillPoly(canvas.img, [fixed_point(pts).reshape(-1, 1, 2)], col, cv2.LINE_8, SHIFT)
        else:  # ring / ellipse
            ax = (uniform(rng, 0.03, 0.15) * h, uniform(rng, 0.03, 0.15) * h)
            cv2.ellipse(canvas.img, tuple(int(v) for v in c.round()), tuple(int(a) for a in ax),
                        uniform(rng, 0, 180), 0, 360, col, int(rng.integers(-1, 6)) or -1)


def _occluder_outline(rng: np.random.Generator, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Corners of one occluder over the box ``(x0, y0, x1, y1)``: a table
    or wall band over the lower body, a pole or sign, or a random box."""
    u = uniform
    bw, bh = max(x1 - x0, 4), max(y1 - y0, 4)
    m = rng.random()
    if m < 0.4:  # table / wall: horizontal band over the lower body
        cy = u(rng, y0 + 0.45 * bh, y0 + 0.9 * bh)
        rw = u(rng, 0.5, 1.6) * bw
        cx = u(rng, x0, x1)
        pts = [(cx - rw / 2, cy), (cx + rw / 2, cy), (cx + rw / 2, cy + u(rng, 0.15, 0.5) * bh),
               (cx - rw / 2, cy + u(rng, 0.15, 0.5) * bh)]
    elif m < 0.7:  # pole / sign: vertical band
        cx = u(rng, x0, x1)
        rw = u(rng, 0.08, 0.3) * bw
        top = u(rng, y0 - 0.3 * bh, y0 + 0.5 * bh)
        pts = [(cx - rw / 2, top), (cx + rw / 2, top), (cx + rw / 2, top + u(rng, 0.4, 1.2) * bh),
               (cx - rw / 2, top + u(rng, 0.4, 1.2) * bh)]
    else:  # random box
        cx, cy = u(rng, x0, x1), u(rng, y0, y1)
        rw, rh = u(rng, 0.15, 0.5) * bw, u(rng, 0.1, 0.4) * bh
        a = u(rng, 0, math.pi)
        rect = cv2.boxPoints(((cx, cy), (rw, rh), math.degrees(a)))
        pts = [tuple(r) for r in rect]
    return np.array(pts)


def draw_occluders(rng: np.random.Generator, canvas: Canvas, people: Sequence[Person], first_layer: int) -> int:
    """Draws one or two objects (polygons or ellipses) over random people,
    each with its own layer from ``first_layer`` on.

    Returns:
        The number of layers used.
    """
    used = 0
    for _ in range(int(rng.integers(1, 3))):
        tgt = people[int(rng.integers(len(people)))]
        box = tgt.bbox2d()
        col = clip_color(hsv_color(rng, 0.0, 1.0, 0.1, 1.0))
        pts = _occluder_outline(rng, *box)
        layer = first_layer + used
        if rng.random() < 0.5:
            canvas.poly(pts, col, layer)
        else:
            canvas.ellipse(np.mean(pts, 0), (0.5 * np.ptp(pts[:, 0]), 0.5 * np.ptp(pts[:, 1])), 0, col, layer)
        used += 1
    return used
