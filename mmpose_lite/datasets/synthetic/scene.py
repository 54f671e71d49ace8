"""One image: background and distractors, people placed and drawn far to
near, occluders over them, annotations read off the layer buffer, then
camera effects (blur, noise, gain) that do not change geometry."""
from __future__ import annotations

import math
from typing import List, Tuple

import cv2
import numpy as np

from .annotation import annotate_person
from .body import uniform
from .canvas import Canvas
from .person import Person
from .scenery import background, draw_distractors, draw_occluders

__all__ = ['render_image']

#: Relative frequency of 1, 2, ... 8 people in an image.
_PEOPLE_COUNT_PROBS = (0.45, 0.25, 0.18, 0.12, 0.06, 0.04, 0.03, 0.02)


def _place_people(rng: np.random.Generator, people: List[Person], w: int, h: int, truncation_prob: float) -> None:
    """Scales and positions every person; untruncated people fit inside the
    image, and a person may overlap the previous one."""
    n = len(people)
    prev_center = None
    for p in people:
        lo, hi = p.unit_extent()
        ext = hi - lo
        if n == 1:
            frac = math.exp(uniform(rng, math.log(0.3), math.log(1.05)))
        else:
            frac = math.exp(uniform(rng, math.log(0.22), math.log(0.85)))
        height_px = frac * h
        truncate = rng.random() < truncation_prob
        if not truncate:  # shrink to fit inside the image
            height_px *= min((w - 4) / (ext[0] * height_px), (h - 4) / (ext[1] * height_px), 1.0)
        bw, bh = ext * height_px
        # position of the bbox top-left corner
        if truncate:
            x0 = uniform(rng, -0.6 * bw, w - 0.4 * bw)
            y0 = uniform(rng, -0.6 * bh, h - 0.4 * bh)
        else:
            x0 = uniform(rng, 1, max(w - bw - 1, 1.0))
            y0 = uniform(rng, 1, max(h - bh - 1, 1.0))
            if prev_center is not None and rng.random() < 0.45:
                # overlap with the previous person
                side = 1.0 if rng.random() < 0.5 else -1.0
                cx = prev_center[0] + side * uniform(rng, 0.25, 0.8) * bw
                cy = prev_center[1] + rng.normal(0, 0.15) * bh
                x0 = float(np.clip(cx - bw / 2, 1, max(w - bw - 1, 1.0)))
                y0 = float(np.clip(cy - bh / 2, 1, max(h - bh - 1, 1.0)))
        p.place(height_px, (x0 - lo[0] * height_px, y0 - lo[1] * height_px))
        prev_center = (x0 + bw / 2, y0 + bh / 2)


def _camera_effects(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Optional blur, then sensor noise, gain and bias."""
    h, w = img.shape[:2]
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), uniform(rng, 0.4, 0.9))
    sigma = uniform(rng, 0, 6)
    gain, bias = uniform(rng, 0.85, 1.15), uniform(rng, -15, 15)
    noise = np.repeat(rng.standard_normal((h, w, 1), dtype=np.float32), 3, 2)
    noise *= np.float32(sigma)
    noise += img
    noise *= np.float32(gain)
    noise += np.float32(bias)
    return np.clip(noise, 0, 255).astype(np.uint8)


def render_image(rng: np.random.Generator, img_size: Tuple[int, int], max_people: int = 4,
                 min_visible_area: int = 64, occluder_prob: float = 0.4, truncation_prob: float = 0.25,
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
    canvas = Canvas(background(rng, w, h))
    draw_distractors(rng, canvas)
    backdrop = canvas.img.copy() if return_background else None
    probs = np.array(_PEOPLE_COUNT_PROBS)[:max_people]
    n = int(rng.choice(max_people, p=probs / probs.sum())) + 1
    people = [Person(rng) for _ in range(n)]
    _place_people(rng, people, w, h, truncation_prob)
    # far (small) people first, with some shuffling
    keys = [p.height_px * uniform(rng, 0.8, 1.25) for p in people]
    people = [people[i] for i in sorted(range(n), key=lambda i: keys[i])]
    face_vis = [p.face_visibility() for p in people]
    for i, p in enumerate(people):
        p.draw(canvas, i + 1, rng, face_vis[i])
    if rng.random() < occluder_prob:
        draw_occluders(rng, canvas, people, n + 1)
    anns = [annotate_person(p, canvas, i + 1, face_vis[i], min_visible_area) for i, p in enumerate(people)]
    img = _camera_effects(rng, canvas.img)
    anns = [a for a in anns if a is not None]
    return (img, anns, backdrop) if return_background else (img, anns)
