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

__all__ = ['DataError', 'MissingDataError', 'AnnotationError', 'CorruptImageError', 'CheckedCocoDataset',
           'missing_files', 'image_problem']

HELP = {
    'COCO': ('To try mmpose_lite without COCO, run the demo from the repository root:\n'
             '    bash tools/demo.sh\n'
             'It generates the embedded synthetic COCO-keypoint data and trains X-HRNet on it.\n'
             'To train on COCO 2017, put train2017/, val2017/, annotations/person_keypoints_{train,val}2017.json\n'
             'and person_detection_results/COCO_val2017_detections_AP_H_56_person.json under data/coco/\n'
             "(see README.md, 'Training on real COCO'), or point data_root/ann_file/bbox_file of the\n"
             'config at your copy.'),
}

#: What to do about a damaged file of a data set (appended to the messages).
REFETCH = ('Re-download it (COCO: https://cocodataset.org/#download), or regenerate it if it was generated '
           '(synthetic data: python -m mmpose_lite.datasets.synthetic DIR).')

#: How many faulty entries a message lists before it says how many more.
MAX_LISTED = 10


class DataError(SystemExit):
    """A data set's file is missing or unusable: ends the run with the message.

    A :class:`SystemExit`, so a training script stops with the message (exit
    status 1) and no traceback; it also passes through MMEngine's registry,
    which re-wraps ordinary exceptions.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


class MissingDataError(DataError):
    """Raised when a dataset's files (annotation file, image folder,
    ``bbox_file``) are missing."""


class AnnotationError(DataError):
    """Raised when an annotation or detection file, or the images it names,
    cannot be used: the message names the file, the entry and what to do."""


class CorruptImageError(RuntimeError):
    """Raised when an image of the data set fails to load mid-run: names the
    file and what is wrong with it (missing, empty, not an image, truncated,
    undecodable).

    An ordinary exception, not a :class:`DataError`, because DataLoader
    worker processes pass on only exceptions (the main process re-raises it
    with the worker's traceback in front of this message). :meth:`as_exit`
    gives the :class:`DataError` that ends a run with the message alone.

    Attributes:
        path (str): The image file (None after a DataLoader worker passed it on).
        message (str): The explanation, without a worker's traceback.
    """

    def __init__(self, message: str, path: Optional[str] = None):
        super().__init__(message)
        self.path = path
        # a DataLoader worker's copy arrives as "Caught CorruptImageError in
        # DataLoader worker ... Original Traceback ...: <message>"
        self.message = message.rpartition(f'{type(self).__name__}: ')[2].rstrip() \
            if message.startswith('Caught ') else message

    def as_exit(self) -> AnnotationError:
        """The same message as a :class:`DataError` (a clean exit)."""
        return AnnotationError(self.message)


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


# ------------------------------------------------------------------ images
#: Leading bytes of the image formats OpenCV reads: (prefix, name).
_SIGNATURES = ((b'\xff\xd8\xff', 'JPEG'), (b'\x89PNG\r\n\x1a\n', 'PNG'), (b'BM', 'BMP'), (b'GIF8', 'GIF'),
               (b'II*\x00', 'TIFF'), (b'MM\x00*', 'TIFF'), (b'RIFF', 'WEBP'), (b'\x00\x00\x00\x0cjP  ', 'JPEG 2000'),
               (b'P1', 'PBM'), (b'P2', 'PGM'), (b'P3', 'PPM'), (b'P4', 'PBM'), (b'P5', 'PGM'), (b'P6', 'PPM'))


def _is_local(path: str) -> bool:
    return isinstance(path, str) and '://' not in path


def image_problem(path: str) -> Optional[str]:
    """What is wrong with the image file ``path``, or None if OpenCV decodes it.

    Reads the file: missing, empty, not an image (its first bytes are shown),
    a truncated JPEG/PNG (no end marker), or a file of an image format that
    OpenCV cannot decode. Remote paths (``s3://...``) are not examined (None).
    """
    if not _is_local(path):
        return None
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        return 'the file does not exist'
    except OSError as e:
        return f'the file cannot be read ({e.strerror or e})'
    if not data:
        return 'the file is empty (0 bytes)'
    kind = next((name for prefix, name in _SIGNATURES if data.startswith(prefix)), None)
    if kind is None:
        head = data[:16]
        text = ''.join(chr(b) if 32 <= b < 127 else '.' for b in head)
        return (f'the file is not an image: its first bytes are {head.hex(" ")} ({text!r}), which is no image '
                'format OpenCV reads (an HTML error page or a partial download looks like this)')
    if kind == 'JPEG' and b'\xff\xd9' not in data[-64:]:
        return f'the file is a truncated JPEG ({len(data)} bytes, no end-of-image marker): it was cut off'
    if kind == 'PNG' and b'IEND' not in data[-32:]:
        return f'the file is a truncated PNG ({len(data)} bytes, no IEND chunk): it was cut off'
    import cv2
    import numpy as np
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        return f'OpenCV cannot decode this {kind} file ({str(e).strip().splitlines()[-1]}): it is damaged'
    if img is None or img.size == 0:
        return f'OpenCV cannot decode this {kind} file ({len(data)} bytes): it is damaged'
    return None


# ------------------------------------------------------------ annotations
def _json_error(what: str, path: str, e: ValueError) -> AnnotationError:
    """The message for a file that is not valid JSON (``json`` error ``e``)."""
    if isinstance(e, json.JSONDecodeError):
        where = f'{e.msg} at line {e.lineno}, column {e.colno} (character {e.pos} of {len(e.doc)})'
        truncated = not e.doc.rstrip().endswith(('}', ']'))
        hint = ('It does not end with "}" or "]": it looks truncated. ' if truncated else '') + \
            'Is the file complete? '
    elif isinstance(e, UnicodeDecodeError):
        where = f'byte {e.start} is not UTF-8 text ({e.reason}): it is a binary file, not JSON'
        hint = 'Is it the right file, and complete? '
    else:
        where, hint = str(e), 'Is the file complete? '
    return AnnotationError(f'{what} {path} is not valid JSON: {where}.\n  {hint}{REFETCH}')


def _read_json(what: str, path: str) -> Any:
    try:
        with open(path, 'r', encoding='utf-8') as f:
            return json.load(f)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise _json_error(what, path, e) from e


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float('inf')


def _listing(problems: Sequence[str]) -> str:
    shown = '\n'.join(f'  - {p}' for p in problems[:MAX_LISTED])
    more = len(problems) - MAX_LISTED
    return shown + (f'\n  ... and {more} more' if more > 0 else '')


def coco_problems(data: Any, num_keypoints: int, need_annotations: bool = True, thorough: bool = False) -> List[str]:
    """What is wrong with a parsed COCO keypoint annotation file.

    Args:
        data: The parsed JSON.
        num_keypoints (int): Keypoints per instance of the dataset.
        need_annotations (bool): ``annotations`` must be present (not for
            the image list a ``bbox_file`` run needs). Default: True.
        thorough (bool): Also check every entry's keys and every number
            (what MMPose's parser needs); else only the structure and the
            keypoint counts (cheap enough for COCO's 260k annotations).

    Returns:
        list[str]: One line per problem (empty when none was found).
    """
    if not isinstance(data, dict):
        return [f'the file holds a JSON {type(data).__name__}, not the object with "images", "annotations" and '
                '"categories" of a COCO annotation file']
    required = ('images', 'annotations', 'categories') if need_annotations else ('images', )
    missing = [k for k in required if k not in data]
    if missing:
        return [f'top-level key(s) {missing} are missing (found {sorted(data)[:8]}); a COCO keypoint annotation '
                'file has "images", "annotations" and "categories"']
    problems = [f'"{k}" must be a list, got a {type(data[k]).__name__}' for k in required
                if not isinstance(data[k], list)]
    if 'categories' not in required and 'categories' in data and not isinstance(data['categories'], list):
        problems.append(f'"categories" must be a list, got a {type(data["categories"]).__name__}')
    if problems:
        return problems
    if not data['images']:
        return ['"images" is empty: the file names no image']
    names = {}
    for i, img in enumerate(data['images']):
        if not isinstance(img, dict) or (thorough and any(k not in img for k in ('id', 'file_name', 'width',
                                                                                  'height'))):
            problems.append(f'images[{i}] must be an object with "id", "file_name", "width" and "height", '
                            f'got {str(img)[:120]}')
            continue
        names[img.get('id')] = img.get('file_name')
    length = 3 * num_keypoints
    for i, ann in enumerate(data.get('annotations') or ()):
        if not isinstance(ann, dict):
            problems.append(f'annotations[{i}] must be an object, got {str(ann)[:120]}')
            continue
        image = ann.get('image_id')
        where = f'annotation id {ann.get("id")} (annotations[{i}], image id {image}, {names.get(image)!r})'
        if thorough:
            absent = [k for k in ('id', 'image_id', 'category_id') if k not in ann]
            if absent:
                problems.append(f'{where} lacks {absent}')
            if 'bbox' in ann and (not isinstance(ann['bbox'], list) or len(ann['bbox']) != 4
                                  or not all(_is_number(v) for v in ann['bbox'])):
                problems.append(f'{where}: bbox must be 4 numbers [x, y, w, h], got {str(ann["bbox"])[:80]}')
        kpts = ann.get('keypoints')
        if kpts is None:
            continue  # not a keypoint instance: MMPose skips it
        if not isinstance(kpts, list) or len(kpts) != length:
            got = f'{len(kpts)} values' if isinstance(kpts, list) else f'a {type(kpts).__name__}'
            problems.append(f'{where} has keypoints of {got}; this dataset has {num_keypoints} keypoints, so '
                            f'{length} values (x, y, visibility for each)')
        elif thorough and not all(_is_number(v) for v in kpts):
            bad = next(v for v in kpts if not _is_number(v))
            problems.append(f'{where}: keypoints must be finite numbers, found {bad!r}')
    return problems


def non_finite_instances(instances: Sequence[dict]) -> List[str]:
    """The instances MMPose parsed whose keypoints or box hold NaN/inf
    (``null`` in a keypoint list becomes NaN when MMPose converts it)."""
    import numpy as np
    problems = []
    for inst in instances:
        bad = [k for k in ('keypoints', 'bbox') if k in inst and not np.isfinite(inst[k]).all()]
        if bad:
            problems.append(f'annotation id {inst.get("id")} (image id {inst.get("img_id")}, '
                            f'{osp.basename(str(inst.get("img_path")))!r}): its {" and ".join(bad)} hold NaN or '
                            'infinite values (null or a non-number in the file)')
    return problems


def detection_problems(dets: Any, image_ids: Optional[set] = None) -> List[str]:
    """What is wrong with a parsed ``bbox_file`` (COCO detection results: a
    list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``).
    ``image_ids``: the images of the annotation file, to check the entries'
    ``image_id`` against."""
    if not isinstance(dets, list):
        return [f'the file holds a JSON {type(dets).__name__}; a detection results file is a list of '
                '{"image_id", "category_id", "bbox": [x, y, w, h], "score"} objects']
    problems = []
    for i, det in enumerate(dets):
        if not isinstance(det, dict):
            problems.append(f'entry {i} must be an object, got {str(det)[:80]}')
            continue
        absent = [k for k in ('image_id', 'category_id', 'bbox', 'score') if k not in det]
        if absent:
            problems.append(f'entry {i} (image id {det.get("image_id")}) lacks {absent}; got keys {sorted(det)}')
            continue
        bbox = det['bbox']
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
            problems.append(f'entry {i} (image id {det["image_id"]}): bbox must be 4 numbers [x, y, w, h], '
                            f'got {str(bbox)[:80]}')
        if not _is_number(det['score']):
            problems.append(f'entry {i} (image id {det["image_id"]}): score must be a number, '
                            f'got {det["score"]!r}')
        if image_ids is not None and det['image_id'] not in image_ids:
            problems.append(f'entry {i}: image id {det["image_id"]!r} is not an image of the annotation file')
    return problems


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
        return AnnotationError(f'{type(self).__name__}: {what} {path}:\n{_listing(problems)}\n  {todo}')

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
            return _json_error('annotation file', self.ann_file, e)
        data = _read_json('annotation file', self.ann_file)
        problems = coco_problems(data, self.metainfo['num_keypoints'], need_annotations=not self.bbox_file,
                                 thorough=True)
        if not problems:  # not a fault we know: name the file and MMPose's error
            problems = [f'MMPose could not load it: {type(e).__name__}: {e}']
        return self._fail('annotation file', self.ann_file, problems, self._annotation_todo())

    def _load_detection_results(self):
        """The detection file is checked first (it is small), then MMPose
        loads it and the annotation file's image list."""
        what = 'detection results file (bbox_file)'
        dets = _read_json(what, self.bbox_file)
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
                raise _json_error('annotation file', self.ann_file, e) from e
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
            if _is_local(path) and path not in seen:
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
                              f'{source} are missing or empty:\n{_listing(problems)}\n  {todo}')

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
