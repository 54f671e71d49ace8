"""Model inputs from images, through a config's own val pipeline: for INT8
calibration and for comparing precisions.

Three sources, each turned into MMPose data samples by the *model* config's
val pipeline (``LoadImage``, ``GetBBoxCenterScale``, ``TopdownAffine``, ...)
and into the network's input by the model's own ``data_preprocessor``
(normalisation, BGR to RGB):

* a dataset config (``val_dataloader.dataset``: its images and boxes, e.g. the
  synthetic demo data with its detected boxes);
* a folder of images (one whole-image box each);
* a COCO keypoint annotation file (one sample per annotated person, its GT box).
"""
import copy
import glob
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

__all__ = ['IMAGE_EXTENSIONS', 'val_pipeline', 'config_dataset', 'config_samples', 'folder_samples', 'coco_samples',
           'samples_from', 'batches', 'model_inputs']

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')


def val_pipeline(cfg) -> list:
    """The config's val (else test) pipeline, as a list of transform dicts."""
    for key in ('val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset', {}).get('pipeline'):
            return copy.deepcopy(list(loader['dataset']['pipeline']))
    raise ValueError(f'{cfg.filename}: no val_dataloader.dataset.pipeline (nor test_dataloader): the model\'s '
                     'inputs are made by its config\'s own val pipeline')


def _spread(n_total: int, n: Optional[int]) -> List[int]:
    """``n`` indices spread evenly over ``range(n_total)`` (all with None)."""
    if n is None or n >= n_total:
        return list(range(n_total))
    return sorted(set(np.linspace(0, n_total - 1, n).round().astype(int).tolist()))


def config_dataset(data_config: str, pipeline: list):
    """``data_config``'s val dataset (images and boxes as that dataset
    defines them, e.g. detected boxes through its ``bbox_file``), with
    ``pipeline`` as its pipeline.

    Raises:
        FileNotFoundError: The dataset's files are missing (the message
            names them and the config).
    """
    from mmpose.registry import DATASETS

    from .model import load_config
    cfg = load_config(data_config)
    loader = cfg.get('val_dataloader') or cfg.get('test_dataloader')
    if not loader:
        raise ValueError(f'{data_config}: no val_dataloader to take images from')
    ds_cfg = copy.deepcopy(loader['dataset'])
    root = ds_cfg.get('data_root', '')
    for key in ('ann_file', 'bbox_file'):
        path = ds_cfg.get(key)
        if path and not osp.isfile(path) and not osp.isfile(osp.join(root, path)):
            raise FileNotFoundError(f'{data_config}: its val dataset\'s {key} {osp.join(root, path)} does not exist '
                                    '(relative paths are relative to the current folder; for the synthetic demo '
                                    'data run `python -m mmpose_lite.datasets.synthetic` first)')
    ds_cfg.update(pipeline=pipeline, test_mode=True, lazy_init=False)
    return DATASETS.build(ds_cfg)


def config_samples(data_config: str, pipeline: list, n: Optional[int] = None) -> List[dict]:
    """``n`` samples spread over :func:`config_dataset` (all with None)."""
    dataset = config_dataset(data_config, pipeline)
    return [dataset[i] for i in _spread(len(dataset), n)]


def folder_samples(folder: str, pipeline: list, n: Optional[int] = None) -> List[dict]:
    """The images of ``folder`` (sorted, ``n`` spread over them), each with
    its whole image as the person box, through ``pipeline``.

    Raises:
        FileNotFoundError: ``folder`` has no image (the message lists the
            extensions looked for).
    """
    from mmengine.dataset import Compose
    paths = sorted(p for p in glob.glob(osp.join(folder, '*')) if p.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise FileNotFoundError(f'{folder}: no image ({", ".join(IMAGE_EXTENSIONS)}) in this folder')
    transform = Compose(pipeline)
    out = []
    for i in _spread(len(paths), n):
        img = cv2.imread(paths[i])
        if img is None:
            raise ValueError(f'{paths[i]}: not a readable image')
        h, w = img.shape[:2]
        info = dict(img_path=paths[i], bbox=np.array([[0, 0, w, h]], np.float32),
                    bbox_score=np.ones(1, np.float32), id=i, img_id=i)
        out.append(transform(info))
    return out


def coco_samples(ann_file: str, img_dir: Optional[str], pipeline: list, n: Optional[int] = None) -> List[dict]:
    """One sample per annotated person of a COCO keypoint file, with its GT
    box, through ``pipeline`` (MMPose's ``CocoDataset`` in top-down mode);
    images from ``img_dir`` (default: the annotation file's folder)."""
    from mmpose.datasets import CocoDataset
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'{ann_file}: no such COCO keypoint annotation file')
    img_dir = img_dir or osp.dirname(osp.abspath(ann_file))
    dataset = CocoDataset(ann_file=osp.abspath(ann_file), data_prefix=dict(img=osp.abspath(img_dir) + '/'),
                          data_mode='topdown', test_mode=True, pipeline=pipeline)
    return [dataset[i] for i in _spread(len(dataset), n)]


def samples_from(source: str, pipeline: list, n: Optional[int] = None) -> List[dict]:
    """:func:`config_samples` for a ``.py`` config (or ``mmpose_lite::``/
    ``mmpose::`` name), :func:`coco_samples` for a ``.json`` annotation file
    (``ANN.json[:IMG_DIR]``), :func:`folder_samples` for a folder.

    Raises:
        FileNotFoundError: ``source`` is none of these (the message says
            what it takes).
    """
    if source.endswith('.py') or '::' in source:
        return config_samples(source, pipeline, n)
    ann, _, img_dir = source.partition('.json:')
    if source.endswith('.json') or img_dir:
        return coco_samples(ann + '.json' if img_dir else source, img_dir or None, pipeline, n)
    if osp.isdir(source):
        return folder_samples(source, pipeline, n)
    raise FileNotFoundError(f'{source}: give a dataset config (.py, its val dataset), a COCO keypoint annotation '
                            'file (ANN.json or ANN.json:IMG_DIR) or a folder of images')


def batches(samples: Sequence[dict], model, batch_size: int = 16) -> Iterator[Tuple[torch.Tensor, list, dict]]:
    """``(inputs, data_samples, batch)`` per batch of ``samples``: the
    network input made by ``model``'s data preprocessor (float32, NCHW), the
    data samples it returns, and the collated batch (for an evaluator)."""
    from mmengine.dataset import pseudo_collate
    for i in range(0, len(samples), batch_size):
        batch = pseudo_collate(list(samples[i:i + batch_size]))
        with torch.no_grad():
            data = model.data_preprocessor(batch, False)
        yield data['inputs'].float().contiguous(), data['data_samples'], batch


def model_inputs(samples: Sequence[dict], model, batch_size: int = 16) -> List[np.ndarray]:
    """The network inputs of ``samples`` as float32 NCHW arrays, one per batch."""
    return [x.numpy() for x, _, _ in batches(samples, model, batch_size)]
