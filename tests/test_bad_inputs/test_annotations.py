"""Bad annotation files, detection files and image folders are named when
the dataset loads (file, entry, what to do), before any training, and the
data set's files are left as they were."""
import os

import pytest

from mmpose_lite.datasets.checked import AnnotationError, DataError, MissingDataError
from .conftest import coco_dataset, dump_json, load_json, snapshot

TRAIN_ANN = 'annotations/person_keypoints_train.json'
VAL_ANN = 'annotations/person_keypoints_val.json'
DETS = 'annotations/person_detection_results_val.json'


def _error(root, **kwargs) -> str:
    """Build the dataset, expecting it to stop; the message, after checking
    that it is a clean-exit DataError and that no file changed."""
    before = snapshot(root)
    with pytest.raises(DataError) as err:
        coco_dataset(root, **kwargs)
    assert isinstance(err.value, SystemExit)
    assert snapshot(root) == before
    return str(err.value)


def test_sound_files_load(synth):
    """The checks pass a good data set: every person of the file is there."""
    ds = coco_dataset(synth)
    people = [a for a in load_json(synth / TRAIN_ANN)['annotations'] if a['num_keypoints'] > 0]
    assert len(ds) == len(people) > 0
    det = coco_dataset(synth, split='val', bbox_file=synth / DETS)
    assert len(det) == len(load_json(synth / DETS))


def test_truncated_annotation_json(synth):
    path = synth / TRAIN_ANN
    text = path.read_text()
    path.write_text(text[:len(text) // 2])
    msg = _error(synth)
    assert str(path) in msg and 'is not valid JSON' in msg
    assert 'line 1, column' in msg and 'looks truncated' in msg
    assert 'Is the file complete?' in msg and 'Re-download' in msg and 'regenerate' in msg


def test_binary_annotation_file(synth):
    path = synth / TRAIN_ANN
    path.write_bytes(b'\x89PNG\r\n\x1a\n\xff\xfe' + bytes(range(256)))
    msg = _error(synth)
    assert str(path) in msg and 'not UTF-8 text' in msg and 'binary file' in msg


@pytest.mark.parametrize('key', ['images', 'annotations', 'categories'])
def test_missing_top_level_key(synth, key):
    path = synth / TRAIN_ANN
    data = load_json(path)
    del data[key]
    dump_json(data, path)
    msg = _error(synth)
    assert str(path) in msg and f"top-level key(s) ['{key}'] are missing" in msg
    assert '"images", "annotations" and "categories"' in msg


def test_annotation_file_that_is_a_list(synth):
    path = synth / TRAIN_ANN
    dump_json([load_json(path)], path)
    msg = _error(synth)
    assert str(path) in msg and 'holds a JSON list' in msg


def test_keypoints_of_the_wrong_length(synth):
    """14 keypoints (another keypoint set: 42 values) where COCO has 17."""
    path = synth / TRAIN_ANN
    data = load_json(path)
    ann = data['annotations'][1]
    ann['keypoints'] = ann['keypoints'][:42]
    dump_json(data, path)
    image = next(i for i in data['images'] if i['id'] == ann['image_id'])
    msg = _error(synth)
    assert str(path) in msg
    assert f'annotation id {ann["id"]} (annotations[1], image id {ann["image_id"]}, {image["file_name"]!r})' in msg
    assert 'keypoints of 42 values' in msg and '17 keypoints, so 51 values' in msg
    assert "'coco' with 17 keypoints" in msg and 'metainfo' in msg


def test_keypoints_not_a_multiple_of_three(synth):
    """MMPose's own parser fails on these (a reshape error); the message
    still names the annotation."""
    path = synth / TRAIN_ANN
    data = load_json(path)
    ann = data['annotations'][0]
    ann['keypoints'] = ann['keypoints'][:50]
    dump_json(data, path)
    msg = _error(synth)
    assert f'annotation id {ann["id"]} (annotations[0]' in msg and 'keypoints of 50 values' in msg


def test_keypoint_value_that_is_not_a_number(synth):
    """null becomes NaN in MMPose's arrays (silently); a string fails its
    parser. Both are named."""
    path = synth / TRAIN_ANN
    data = load_json(path)
    ann = data['annotations'][0]
    ann['keypoints'][4] = None
    dump_json(data, path)
    msg = _error(synth)
    assert f'annotation id {ann["id"]} (image id {ann["image_id"]}, \'000000000001.jpg\'): its keypoints hold NaN' \
        in msg
    ann['keypoints'][4] = 'abc'
    dump_json(data, path)
    msg = _error(synth)
    assert f'annotation id {ann["id"]} (annotations[0]' in msg
    assert "keypoints must be finite numbers, found 'abc'" in msg


def test_annotation_without_id(synth):
    path = synth / TRAIN_ANN
    data = load_json(path)
    del data['annotations'][2]['id']
    dump_json(data, path)
    msg = _error(synth)
    assert 'annotations[2]' in msg and "lacks ['id']" in msg


def test_missing_image(synth):
    data = load_json(synth / TRAIN_ANN)
    gone = synth / 'train' / data['images'][1]['file_name']
    os.remove(gone)
    msg = _error(synth)
    assert f'image id {data["images"][1]["id"]}: {gone} (missing)' in msg
    assert '1 of the 3 images named by' in msg and str(synth / TRAIN_ANN) in msg
    assert 'Restore these files' in msg and 'remove their entries' in msg


def test_wrong_image_folder(synth):
    """Every image missing: the message points at data_prefix."""
    (synth / 'elsewhere').mkdir()
    before = snapshot(synth)
    with pytest.raises(AnnotationError) as err:
        coco_dataset(synth, data_prefix=dict(img='elsewhere/'))
    assert snapshot(synth) == before
    msg = str(err.value)
    assert '3 of the 3 images' in msg and 'is data_prefix.img right?' in msg and 'elsewhere' in msg


def test_empty_image_found_at_load(synth):
    data = load_json(synth / TRAIN_ANN)
    empty = synth / 'train' / data['images'][0]['file_name']
    empty.write_bytes(b'')
    msg = _error(synth)
    assert f'{empty} (empty file, 0 bytes)' in msg


def test_detection_file_that_is_not_a_list(synth):
    path = synth / DETS
    dump_json({'detections': load_json(path)}, path)
    msg = _error(synth, split='val', bbox_file=path)
    assert f'detection results file (bbox_file) {path}' in msg and 'holds a JSON dict' in msg
    assert '"image_id", "category_id", "bbox" [x, y, w, h] and "score"' in msg


def test_detection_entry_without_bbox(synth):
    """MMPose alone gives a bare KeyError: 'bbox'."""
    path = synth / DETS
    dets = load_json(path)
    del dets[1]['bbox']
    dump_json(dets, path)
    msg = _error(synth, split='val', bbox_file=path)
    assert str(path) in msg and f"entry 1 (image id {dets[1]['image_id']}) lacks ['bbox']" in msg


@pytest.mark.parametrize('bbox', [[1, 2, 3], [1, 2, 3, 'x'], 'box', [1, 2, 3, 4, 5]])
def test_detection_bbox_not_four_numbers(synth, bbox):
    path = synth / DETS
    dets = load_json(path)
    dets[0]['bbox'] = bbox
    dump_json(dets, path)
    msg = _error(synth, split='val', bbox_file=path)
    assert f'entry 0 (image id {dets[0]["image_id"]}): bbox must be 4 numbers [x, y, w, h]' in msg


def test_detection_score_and_image_id(synth):
    path = synth / DETS
    dets = load_json(path)
    dets[0]['score'] = 'high'
    dump_json(dets, path)
    assert "entry 0 (image id" in _error(synth, split='val', bbox_file=path)
    dets[0]['score'] = 0.9
    dets[-1]['image_id'] = 424242
    dump_json(dets, path)
    msg = _error(synth, split='val', bbox_file=path)
    assert f'entry {len(dets) - 1}: image id 424242 is not an image of the annotation file' in msg


def test_truncated_detection_file(synth):
    path = synth / DETS
    text = path.read_text()
    path.write_text(text[:-7])
    msg = _error(synth, split='val', bbox_file=path)
    assert str(path) in msg and 'is not valid JSON' in msg and 'looks truncated' in msg


def test_annotation_file_of_a_detection_run_is_checked_too(synth):
    path = synth / VAL_ANN
    data = load_json(path)
    data['annotations'][0]['keypoints'] = data['annotations'][0]['keypoints'][:-3]
    dump_json(data, path)
    msg = _error(synth, split='val', bbox_file=synth / DETS)
    assert f'annotation file {path}' in msg and 'keypoints of 48 values' in msg


def test_missing_files_are_still_named_first(tmp_path):
    with pytest.raises(MissingDataError) as err:
        coco_dataset(tmp_path)
    assert 'annotation file' in str(err.value) and 'bash tools/demo.sh' in str(err.value)
    assert isinstance(err.value, DataError)
