"""MMPose datasets that check their files before loading them.

They are MMPose's own datasets, unchanged but for a check in ``__init__``: when
a file the config points to is missing, the run stops with a message that
names every missing path and says what to do, instead of a traceback from
deep inside the data loader. Nothing has been written at that point.
"""
import os.path as osp
from typing import Optional

from mmpose.datasets import CocoDataset
from mmpose.registry import DATASETS

__all__ = ['MissingDataError', 'CheckedCocoDataset', 'missing_files']

HELP = {
    'COCO': ('To try mmpose_lite without COCO, run the demo from the repository root:\n'
             '    bash tools/demo.sh\n'
             'It generates the embedded synthetic COCO-keypoint data and trains X-HRNet on it.\n'
             'To train on COCO 2017, put train2017/, val2017/, annotations/person_keypoints_{train,val}2017.json\n'
             'and person_detection_results/COCO_val2017_detections_AP_H_56_person.json under data/coco/\n'
             "(see README.md, 'Training on real COCO'), or point data_root/ann_file/bbox_file of the\n"
             'config at your copy.'),
}


class MissingDataError(SystemExit):
    """Raised when a dataset's files are missing.

    A :class:`SystemExit`, so a training script stops with the message (exit
    status 1) and no traceback; it also passes through MMEngine's registry,
    which re-wraps ordinary exceptions.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


def missing_files(ann_file: str, data_root: Optional[str], img_dir: str, bbox_file: Optional[str]):
    """The (what, path) pairs of ``ann_file`` / ``img_dir`` / ``bbox_file``
    that do not exist, with ``ann_file`` and ``img_dir`` taken under
    ``data_root`` as MMEngine's ``BaseDataset`` does."""

    def under_root(path):
        return path if not data_root or osp.isabs(path) else osp.join(data_root, path)

    checks = [('annotation file', under_root(ann_file), osp.isfile),
              ('image folder', under_root(img_dir or ''), osp.isdir)]
    if bbox_file:
        checks.append(('detection results file (bbox_file)', bbox_file, osp.isfile))
    return [(what, path) for what, path, exists in checks if not exists(path)]


class _CheckFilesMixin:
    """Runs :func:`missing_files` before the dataset's own ``__init__``."""
    data_name = 'COCO'

    def __init__(self, ann_file: str = '', bbox_file: Optional[str] = None, data_root: Optional[str] = None,
                 data_prefix: dict = dict(img=''), **kwargs):
        missing = missing_files(ann_file, data_root, data_prefix.get('img', ''), bbox_file)
        if missing:
            lines = '\n'.join(f'  - {what}: {path} (absolute: {osp.abspath(path)})' for what, path in missing)
            raise MissingDataError(f'{type(self).__name__}: {self.data_name} data not found:\n{lines}\n\n'
                                   f'{HELP[self.data_name]}')
        super().__init__(ann_file=ann_file, bbox_file=bbox_file, data_root=data_root, data_prefix=data_prefix,
                         **kwargs)


@DATASETS.register_module()
class CheckedCocoDataset(_CheckFilesMixin, CocoDataset):
    """MMPose's :class:`~mmpose.datasets.CocoDataset` with the file check of
    :class:`_CheckFilesMixin`. Same arguments."""
