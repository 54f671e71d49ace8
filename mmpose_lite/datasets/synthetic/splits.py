"""Writing the data set's files: each split's images and keypoint
annotations, and the validation detections, rendered serially or by a pool
of worker processes (the output does not depend on which).

Image ``i`` of a split is rendered from its own seed ``(seed, split, i)``,
so the first ``n`` images are the same whatever the number of images or
workers.
"""
from __future__ import annotations

import json
import multiprocessing
import os
from typing import Any, Dict, List, Tuple

import cv2
import numpy as np

from .annotation import COCO_PERSON_CATEGORY, DATASET_INFO
from .config import SyntheticCocoConfig
from .detections import simulate_detections
from .scene import render_image

__all__ = ['image_rng', 'write_files', 'ANNOTATION_FILES']

_SPLIT_CODES = {'train': 0, 'val': 1}
#: The annotation files (in the folder ``annotations``).
ANNOTATION_FILES = {'train': 'person_keypoints_train.json',
                    'val': 'person_keypoints_val.json',
                    'val_det': 'person_detection_results_val.json'}


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator image ``index`` of ``split`` is rendered from."""
    return np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_CODES[split], index]))


def _file_name(index: int) -> str:
    return f'{index + 1:012d}.jpg'


def _worker_init() -> None:
    cv2.setNumThreads(1)


def _render_task(args: Tuple[SyntheticCocoConfig, str, int, str]) -> List[Dict[str, Any]]:
    """Renders and writes one image; returns its annotations."""
    cfg, split, index, img_dir = args
    img, anns = render_image(image_rng(cfg.seed, split, index), cfg.img_size, cfg.max_people,
                             cfg.min_visible_area, cfg.occluder_prob, cfg.truncation_prob)
    ok, buf = cv2.imencode('.jpg', img, [int(cv2.IMWRITE_JPEG_QUALITY), cfg.jpeg_quality])
    if not ok:  # pragma: no cover
        raise RuntimeError('JPEG encoding failed')
    with open(os.path.join(img_dir, _file_name(index)), 'wb') as f:
        f.write(buf.tobytes())
    return anns


def _dump_json(obj: Any, path: str) -> None:
    text = json.dumps(obj, separators=(',', ':'), ensure_ascii=True)
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)


def _write_split(cfg: SyntheticCocoConfig, split: str, count: int, root: str,
                 pool) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Writes the images of ``split`` and its annotation file.

    Returns:
        The COCO ``images`` and ``annotations`` entries.
    """
    img_dir = os.path.join(root, split)
    os.makedirs(img_dir, exist_ok=True)
    tasks = [(cfg, split, i, img_dir) for i in range(count)]
    if pool is None:
        results = [_render_task(t) for t in tasks]
    else:
        results = pool.map(_render_task, tasks, chunksize=8)
    w, h = cfg.img_size
    images, anns = [], []
    for i, img_anns in enumerate(results):
        images.append({'id': i + 1, 'file_name': _file_name(i), 'width': int(w), 'height': int(h)})
        for a in img_anns:
            anns.append({'id': len(anns) + 1, 'image_id': i + 1, **a})
    data = {
        'info': dict(DATASET_INFO, seed=cfg.seed, split=split),
        'licenses': [],
        'images': images,
        'annotations': anns,
        'categories': [COCO_PERSON_CATEGORY],
    }
    _dump_json(data, os.path.join(root, 'annotations', ANNOTATION_FILES[split]))
    return images, anns


def write_files(cfg: SyntheticCocoConfig, workers: int, root: str) -> Dict[str, int]:
    """Renders and writes every file of the data set into ``root``.

    Args:
        cfg: The parameters.
        workers: Worker processes (a pool is used above 16 images only).
        root: The folder to write into.

    Returns:
        The annotation and detection counts.
    """
    os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
    pool = None
    cv_threads = cv2.getNumThreads()
    if workers > 1 and cfg.num_train + cfg.num_val > 16:
        # fork (where available) spares every worker re-importing the parent
        # package (which may pull in torch); workers use numpy/OpenCV only.
        # OpenCV's thread pool does not survive fork(): switch it off while
        # the workers are forked (restored below).
        method = 'fork' if 'fork' in multiprocessing.get_all_start_methods() else 'spawn'
        cv2.setNumThreads(1)
        pool = multiprocessing.get_context(method).Pool(workers, initializer=_worker_init)
    try:
        _, train_anns = _write_split(cfg, 'train', cfg.num_train, root, pool)
        val_images, val_anns = _write_split(cfg, 'val', cfg.num_val, root, pool)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
            cv2.setNumThreads(cv_threads)
    dets = simulate_detections(cfg.seed, val_images, val_anns)
    _dump_json(dets, os.path.join(root, 'annotations', ANNOTATION_FILES['val_det']))
    return {'num_train_annotations': len(train_anns),
            'num_val_annotations': len(val_anns),
            'num_val_detections': len(dets)}
