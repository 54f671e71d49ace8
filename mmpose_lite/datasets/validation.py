"""Checks of data files: which exist, what is wrong with an image, and what
is wrong with a COCO keypoint annotation or detection (``bbox_file``) file.
Each check returns the problems it found, phrased for the user."""
import json
import os.path as osp
from typing import Any, List, Optional, Sequence

from .errors import MAX_LISTED, REFETCH, AnnotationError

__all__ = ['missing_files', 'image_problem', 'coco_problems', 'detection_problems', 'non_finite_instances',
           'listing', 'read_json', 'json_error', 'is_local']


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


def is_local(path: str) -> bool:
    return isinstance(path, str) and '://' not in path


def image_problem(path: str) -> Optional[str]:
    """What is wrong with the image file ``path``, or None if OpenCV decodes it.

    Reads the file: missing, empty, not an image (its first bytes are shown),
    a truncated JPEG/PNG (no end marker), or a file of an image format that
    OpenCV cannot decode. Remote paths (``s3://...``) are not examined (None).
    """
    if not is_local(path):
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
def json_error(what: str, path: str, e: ValueError) -> AnnotationError:
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


def read_json(what: str, path: str) -> Any:
    try:
        with open(path, 'r', encoding='utf-8') as f:
            return json.load(f)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise json_error(what, path, e) from e


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float('inf')


def listing(problems: Sequence[str]) -> str:
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
