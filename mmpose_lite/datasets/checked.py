"""MMPose datasets that check their files before and while they use them.

They are MMPose's own datasets, parsing their files with MMPose's code, plus
checks at the places where a bad file would otherwise fail late or silently:

* **Files exist** (in ``__init__``): a missing annotation file, image folder
  or ``bbox_file`` stops the run with a message naming every missing path and
  what to do (:class:`MissingDataError`).
* **Annotation and detection files are sound** (when the dataset loads, before
  training starts): invalid or truncated JSON (file, line and column), missing
  top-level keys, keypoint lists of the wrong length for the dataset's
  keypoints, malformed entries of a ``bbox_file``: the file and the entry are
  named (:class:`AnnotationError`). The annotation file is parsed once, by
  MMPose; what it parsed is checked. Only when MMPose's parser fails is the
  file read again, to name the entry at fault.
* **Every image exists and is not empty** (one ``stat`` per image, at load).
* **An image that fails to load** mid-run (not an image, truncated, damaged)
  is named with what is wrong with it (:class:`CorruptImageError`).

The load-time errors are :class:`DataError` s, a :class:`SystemExit`: a
training script stops with the message and no traceback, and MMEngine's
registry, which re-wraps ordinary exceptions, lets them through. Nothing has
been written when they are raised.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

from mmpose.datasets import CocoDataset
from mmpose.registry import DATASETS

from .errors import HELP, REFETCH, AnnotationError, CorruptImageError, DataError, MissingDataError
from .validation import (
    coco_problems,
    detection_problems,
    image_problem,
    is_local,
    json_error,
    listing,
    missing_files,
    non_finite_instances,
    read_json,
)

__all__ = ['DataError', 'MissingDataError', 'AnnotationError', 'CorruptImageError', 'CheckedCocoDataset',
           'missing_files', 'image_problem']


# ---------------------------------------------------------------- mixins
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


class _CheckContentsMixin:
    """Validates what MMPose's COCO-style loading parsed, checks that the
    images exist, and names an image that fails to load."""

    def _fail(self, what: str, path: str, problems: Sequence[str], todo: str) -> AnnotationError:
        return AnnotationError(f'{type(self).__name__}: {what} {path}:\n{listing(problems)}\n  {todo}')

    def _annotation_todo(self) -> str:
        return (f'If the file was made for another keypoint set, give the dataset the metainfo it was made for '
                f'(metainfo=dict(from_file=...)); this one is {self.metainfo.get("dataset_name")!r} with '
                f'{self.metainfo.get("num_keypoints")} keypoints. Otherwise fix the file. ' + REFETCH)

    def _load_annotations(self):
        """MMPose's loading; then the parsed file is checked. If MMPose's
        parser fails, the file is read again to name the entry at fault."""
        try:
            result = super()._load_annotations()
        except DataError:
            raise
        except Exception as e:  # noqa: BLE001 - explained below, or re-raised naming the file
            raise self._explain_annotation_failure(e) from e
        problems = coco_problems(self.coco.dataset, self.metainfo['num_keypoints'])
        problems += non_finite_instances(result[0])
        if problems:
            raise self._fail('annotation file', self.ann_file, problems, self._annotation_todo())
        return result

    def _explain_annotation_failure(self, e: Exception) -> AnnotationError:
        if isinstance(e, (json.JSONDecodeError, UnicodeDecodeError)):
            return json_error('annotation file', self.ann_file, e)
        data = read_json('annotation file', self.ann_file)
        problems = coco_problems(data, self.metainfo['num_keypoints'], need_annotations=not self.bbox_file,
                                 thorough=True)
        if not problems:  # not a fault we know: name the file and MMPose's error
            problems = [f'MMPose could not load it: {type(e).__name__}: {e}']
        return self._fail('annotation file', self.ann_file, problems, self._annotation_todo())

    def _load_detection_results(self):
        """The detection file is checked first (it is small), then MMPose
        loads it and the annotation file's image list."""
        what = 'detection results file (bbox_file)'
        dets = read_json(what, self.bbox_file)
        todo = ('Each entry needs "image_id", "category_id", "bbox" [x, y, w, h] and "score" (the COCO detection '
                'results format). Fix the file. ' + REFETCH)
        problems = detection_problems(dets)
        if problems:
            raise self._fail(what, self.bbox_file, problems, todo)
        try:
            data_list = super()._load_detection_results()
        except DataError:
            raise
        except Exception as e:  # noqa: BLE001
            if isinstance(e, (json.JSONDecodeError, UnicodeDecodeError)):
                raise json_error('annotation file', self.ann_file, e) from e
            coco = getattr(self, 'coco', None)
            if coco is None:  # the annotation file failed
                raise self._explain_annotation_failure(e) from e
            problems = detection_problems(dets, set(coco.imgs)) or [f'MMPose could not load it: '
                                                                   f'{type(e).__name__}: {e}']
            raise self._fail(what, self.bbox_file, problems, todo) from e
        # the annotation file gives the image list here; its keypoints are
        # what the evaluation compares with
        problems = coco_problems(self.coco.dataset, self.metainfo['num_keypoints'], need_annotations=False)
        if problems:
            raise self._fail('annotation file', self.ann_file, problems, self._annotation_todo())
        return data_list

    def load_data_list(self) -> List[dict]:
        """MMPose's data list, after checking that every image it names
        exists and is not empty (one ``stat`` each)."""
        data_list = super().load_data_list()
        self._check_images(data_list)
        return data_list

    def _check_images(self, data_list: List[dict]) -> None:
        seen: Dict[str, Any] = {}
        for info in data_list:
            path = info.get('img_path')
            if is_local(path) and path not in seen:
                seen[path] = info.get('img_id')
        problems = []
        for path, img_id in seen.items():
            try:
                size = os.stat(path).st_size
            except OSError as e:
                problems.append(f'image id {img_id}: {path} ({"missing" if isinstance(e, FileNotFoundError) else e})')
                continue
            if size == 0:
                problems.append(f'image id {img_id}: {path} (empty file, 0 bytes)')
        if not problems:
            return
        source = self.bbox_file or self.ann_file
        folder = self.data_prefix.get('img', '')
        if len(problems) == len(seen):
            todo = (f'None of the images is usable: is data_prefix.img right? Images are looked for in {folder} '
                    f'(absolute: {osp.abspath(folder)}).')
        else:
            todo = ('Restore these files (re-download, or regenerate generated data), or remove their entries '
                    f'from {osp.basename(source)}.')
        raise AnnotationError(f'{type(self).__name__}: {len(problems)} of the {len(seen)} images named by '
                              f'{source} are missing or empty:\n{listing(problems)}\n  {todo}')

    def prepare_data(self, idx: int) -> Any:
        """MMPose's sample preparation; when it fails on a broken image file,
        a :class:`CorruptImageError` names the file and what is wrong."""
        try:
            return super().prepare_data(idx)
        except Exception as e:  # noqa: BLE001 - re-raised as is unless the image is at fault
            info = self.get_data_info(idx)
            path = info.get('img_path')
            problem = image_problem(path) if path else None
            if problem is None:
                raise
            raise CorruptImageError(
                f'{type(self).__name__}: image {path} (sample {idx}, image id '
                f'{info.get("img_id")}) cannot be loaded: {problem}.\n  Replace the file '
                '(re-download it, or regenerate generated data), or remove its entries from the annotation '
                f'file {self.ann_file}.', path) from e


@DATASETS.register_module()
class CheckedCocoDataset(_CheckFilesMixin, _CheckContentsMixin, CocoDataset):
    """MMPose's :class:`~mmpose.datasets.CocoDataset` with the checks of this
    module (files exist; annotation and detection files sound; images exist,
    and name the file when one fails to load). Same arguments."""
