"""Command line of the generator (``python -m mmpose_lite.datasets.synthetic``
and the ``mmpose-lite-synth`` script): one option per field of
:class:`~.config.SyntheticCocoConfig`, plus ``--workers``."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .config import config_fields
from .generate import generate_synthetic_coco

__all__ = ['build_parser', 'main']


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: ``out_dir``, an option ``--<field-name>`` per
    config field (type, count and default from the field, help from its
    metadata) and ``--workers``."""
    parser = argparse.ArgumentParser(
        prog='python -m mmpose_lite.datasets.synthetic',
        description='Generate a deterministic synthetic COCO-keypoint dataset (train/val images, keypoint '
        'annotations and val person detections).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('out_dir', help='output directory (data_root)')
    for name, (typ, count, f) in config_fields().items():
        parser.add_argument(f'--{name.replace("_", "-")}', dest=name, type=typ, default=f.default,
                            nargs=count if count > 1 else None, help=f.metadata['help'], **f.metadata['cli'])
    parser.add_argument('--workers', type=int, default=1,
                        help='worker processes, 0 = all CPUs (output does not depend on it)')
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success (bad arguments, or an ``out_dir`` that cannot be
        written, exit with status 2 and a usage error naming the problem).
    """
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    out_dir, workers = args.pop('out_dir'), args.pop('workers')
    try:
        res = generate_synthetic_coco(out_dir, workers=workers, **args)
    except (ValueError, OSError) as e:  # bad arguments, unwritable out_dir
        parser.error(str(e))
    print(f'data_root:  {res.data_root}')
    print(f'train: {res.num_train_images} images, {res.num_train_annotations} people -> {res.train_ann_file}')
    print(f'val:   {res.num_val_images} images, {res.num_val_annotations} people -> {res.val_ann_file}')
    print(f'val detections: {res.num_val_detections} -> {res.val_det_file}')
    print(f'done in {res.seconds:.1f}s')
    sys.stdout.flush()
    return 0
