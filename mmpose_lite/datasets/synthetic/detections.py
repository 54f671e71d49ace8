"""The validation split's person-detection results (what a top-down model is
evaluated on): jittered ground-truth boxes with high scores plus a few
low-score false positives, each image from its own seed."""
from __future__ import annotations

import math
from typing import Any, Dict, List

import numpy as np

from .body import uniform

__all__ = ['simulate_detections']

#: Seed stream of the detections (images use the split codes 0 and 1).
_DET_STREAM = 7


def _box(image: Dict[str, Any], x0: float, y0: float, x1: float, y1: float, score: float) -> Dict[str, Any]:
    """A COCO detection result, clipped to the image."""
    w, h = image['width'], image['height']
    x0, y0 = float(np.clip(x0, 0, w - 1)), float(np.clip(y0, 0, h - 1))
    x1, y1 = float(np.clip(x1, x0 + 1, w)), float(np.clip(y1, y0 + 1, h))
    return {'image_id': image['id'], 'category_id': 1,
            'bbox': [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            'score': round(float(score), 4)}


def _jittered(rng: np.random.Generator, image: Dict[str, Any], ann: Dict[str, Any]) -> Dict[str, Any]:
    """A detection of an annotated person: its box moved and rescaled a
    little, scored higher the more keypoints are labelled."""
    x, y, bw, bh = ann['bbox']
    cx = x + bw / 2 + np.clip(rng.normal(0, 0.04), -0.1, 0.1) * bw
    cy = y + bh / 2 + np.clip(rng.normal(0, 0.04), -0.1, 0.1) * bh
    sw = math.exp(float(np.clip(rng.normal(0.02, 0.06), -0.14, 0.14)))
    sh = math.exp(float(np.clip(rng.normal(0.02, 0.06), -0.14, 0.14)))
    bw, bh = bw * sw, bh * sh
    vis = ann['num_keypoints'] / 17.0
    score = np.clip(0.55 + 0.3 * vis + rng.normal(0, 0.06), 0.3, 0.999)
    return _box(image, cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, score)


def simulate_detections(seed: int, images: List[Dict[str, Any]],
                        anns: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Detection results for ``images`` given their annotations ``anns``.

    Every image gets at least one box (a false positive if it has no
    annotation).

    Args:
        seed: The data set's master seed.
        images: COCO ``images`` entries.
        anns: COCO ``annotations`` of these images.

    Returns:
        COCO detection results (``image_id``, ``category_id``, ``bbox``,
        ``score``), image by image.
    """
    by_img: Dict[int, List[Dict[str, Any]]] = {}
    for a in anns:
        by_img.setdefault(a['image_id'], []).append(a)
    dets = []
    for idx, im in enumerate(images):
        rng = np.random.default_rng(np.random.SeedSequence([seed, _DET_STREAM, idx]))
        w, h = im['width'], im['height']
        cur = [_jittered(rng, im, a) for a in by_img.get(im['id'], [])]
        nfp = int(rng.poisson(0.6))
        if not cur and nfp == 0:
            nfp = 1
        for _ in range(nfp):
            bw, bh = uniform(rng, 0.08, 0.4) * w, uniform(rng, 0.15, 0.6) * h
            x0, y0 = uniform(rng, 0, w - bw), uniform(rng, 0, h - bh)
            cur.append(_box(im, x0, y0, x0 + bw, y0 + bh, uniform(rng, 0.01, 0.3)))
        dets.extend(cur)
    return dets
