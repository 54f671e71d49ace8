"""The generator's entry point: parameters in, a complete data set out."""
from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from typing import Any, Optional

from .atomic import exclusive, new_staging, publish, read_manifest, remove_leftovers, write_manifest
from .config import SyntheticCocoConfig, is_int
from .splits import ANNOTATION_FILES, write_files

__all__ = ['SyntheticCocoResult', 'generate_synthetic_coco']


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
        reused: True if ``reuse=True`` found the data set complete and
            nothing was written.
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
    reused: bool = False


def make_config(config: Optional[SyntheticCocoConfig] = None, **overrides: Any) -> SyntheticCocoConfig:
    """``config`` (default: the defaults) with ``overrides`` applied.

    Raises:
        TypeError: If ``config`` is not a config or an override is not one
            of its fields (the message lists them).
        ValueError: If a value is out of range (the message names it).
    """
    if config is None:
        config = SyntheticCocoConfig()
    elif not isinstance(config, SyntheticCocoConfig):
        raise TypeError(f'config must be a SyntheticCocoConfig or None, got {config!r}; pass the parameters by '
                        f'keyword (e.g. num_train=10)')
    names = [f.name for f in dataclasses.fields(SyntheticCocoConfig)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise TypeError(f'unknown synthetic data parameter(s) {unknown}; the parameters are {names}')
    return dataclasses.replace(config, **overrides) if overrides else config


def check_workers(workers: Any) -> int:
    """The number of worker processes ``workers`` asks for (0 = every CPU).

    Raises:
        ValueError: If ``workers`` is not a non-negative integer.
    """
    if not is_int(workers) or workers < 0:
        raise ValueError(f'workers must be a non-negative integer, got {workers!r}')
    return int(workers) or os.cpu_count() or 1


def generate_synthetic_coco(out_dir: str, config: Optional[SyntheticCocoConfig] = None, *, workers: int = 1,
                            reuse: bool = False, **overrides: Any) -> SyntheticCocoResult:
    """Writes a synthetic COCO-keypoint dataset to ``out_dir``.

    The output is a pure function of the parameters (a
    :class:`SyntheticCocoConfig`): image ``i`` of a split is rendered from
    its own seed derived from ``(seed, split, i)``, so the first ``n``
    images are the same whatever ``num_train`` / ``num_val`` or the number
    of workers.

    A data set is used only when complete: the files are written into a
    hidden staging folder inside ``out_dir``, then ``annotations/``,
    ``train/`` and ``val/`` replace the old ones (as a whole; other entries
    of ``out_dir`` are left alone) and the manifest ``MANIFEST_NAME``
    (parameters, counts and the size of every file) is renamed into place
    last. A generation killed half-way leaves no manifest, so
    :func:`read_manifest` (what ``reuse`` and the demo rely on) reports the
    data set incomplete and it is generated again; its leftovers are removed
    then. Runs into the same folder at once are serialised by an exclusive
    lock (``fcntl.flock``) on the file ``LOCK_NAME`` in ``out_dir``: the
    later run waits, then regenerates (or, with ``reuse``, finds the data
    set complete), so the folder always holds one run's complete output.

    Args:
        out_dir: Output directory (created if needed).
        config: The parameters (default: :class:`SyntheticCocoConfig`'s
            defaults).
        workers: Worker processes (0 = ``os.cpu_count()``); does not change
            the output.
        reuse: If ``out_dir`` holds a complete data set generated with the
            same parameters (see :func:`read_manifest`), return it without
            writing anything.
        **overrides: Fields of :class:`SyntheticCocoConfig` (``num_train``,
            ``num_val``, ``img_size``, ``seed``, ...) replacing those of
            ``config``.

    Returns:
        A :class:`SyntheticCocoResult` with the paths and counts.

    Raises:
        TypeError: If an override is not a parameter.
        ValueError: If a parameter is out of range (the message names it).
        OSError: If ``out_dir`` cannot be written (checked before anything
            is rendered; the message names the folder).
    """
    cfg = make_config(config, **overrides)
    workers = check_workers(workers)
    t0 = time.perf_counter()
    root = os.path.abspath(os.fspath(out_dir))
    # fail before any rendering, naming the folder
    from mmpose_lite.utils.cli import ensure_writable_dir
    ensure_writable_dir(root, 'synthetic data folder (out_dir)')
    with exclusive(root):
        remove_leftovers(root)
        manifest = read_manifest(root) if reuse else None
        reused = manifest is not None and manifest['config'] == cfg.record()
        if not reused:
            staging = new_staging(root)
            try:
                counts = write_files(cfg, workers, staging)
                manifest = write_manifest(staging, cfg, counts)
                publish(staging, root)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    counts = manifest['counts']
    ann_dir = os.path.join(root, 'annotations')
    return SyntheticCocoResult(
        data_root=root,
        train_ann_file=os.path.join(ann_dir, ANNOTATION_FILES['train']),
        val_ann_file=os.path.join(ann_dir, ANNOTATION_FILES['val']),
        val_det_file=os.path.join(ann_dir, ANNOTATION_FILES['val_det']),
        train_img_dir=os.path.join(root, 'train'),
        val_img_dir=os.path.join(root, 'val'),
        num_train_images=cfg.num_train,
        num_val_images=cfg.num_val,
        num_train_annotations=counts['num_train_annotations'],
        num_val_annotations=counts['num_val_annotations'],
        num_val_detections=counts['num_val_detections'],
        seconds=round(time.perf_counter() - t0, 3),
        reused=reused)
