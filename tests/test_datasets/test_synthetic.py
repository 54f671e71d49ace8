"""Tests of the synthetic COCO-keypoint generator (numpy + OpenCV only)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from mmpose_lite.datasets import COCO_KEYPOINT_NAMES, COCO_SKELETON, generate_synthetic_coco
from mmpose_lite.datasets import synthetic as S
from mmpose_lite.datasets.synthetic.body import POSE_KINDS
from mmpose_lite.datasets.synthetic.person import Person
from mmpose_lite.datasets.synthetic.splits import image_rng

SMALL = dict(num_train=12, num_val=6, img_size=(160, 128))
FILES = ('annotations/person_keypoints_train.json',
         'annotations/person_keypoints_val.json',
         'annotations/person_detection_results_val.json')


def _load(root: Path, rel: str):
    return json.loads((root / rel).read_text())


def _all_files(root: Path):
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Two runs with seed 0 (one with 2 workers), one with seed 1."""
    out = {}
    for name, kw in (('a', dict(seed=0)), ('b', dict(seed=0, workers=2)),
                     ('c', dict(seed=1))):
        root = tmp_path_factory.mktemp(f'synth_{name}')
        res = generate_synthetic_coco(root, **SMALL, **kw)
        out[name] = (root, res)
    return out


@pytest.fixture(scope='module')
def stats_set(tmp_path_factory):
    root = tmp_path_factory.mktemp('synth_stats')
    generate_synthetic_coco(root, num_train=40, num_val=0, img_size=(192, 144),
                            seed=3)
    return _load(root, FILES[0])


def test_layout_and_result(runs):
    root, res = runs['a']
    for rel in FILES:
        assert (root / rel).is_file()
    assert Path(res.train_ann_file) == root / FILES[0]
    assert Path(res.val_ann_file) == root / FILES[1]
    assert Path(res.val_det_file) == root / FILES[2]
    assert res.num_train_images == 12 and res.num_val_images == 6
    assert sorted(p.name for p in (root / 'train').iterdir()) == [
        f'{i:012d}.jpg' for i in range(1, 13)]
    assert len(list((root / 'val').iterdir())) == 6
    assert res.num_train_annotations == len(_load(root, FILES[0])[
        'annotations'])
    assert res.num_val_detections == len(_load(root, FILES[2]))


def test_deterministic(runs):
    a, b, c = (_all_files(runs[k][0]) for k in 'abc')
    assert a == b  # same seed, serial vs 2 workers: byte-identical
    assert a.keys() == c.keys()
    for rel in FILES:
        assert a[rel] != c[rel]
    assert a['train/000000000001.jpg'] != c['train/000000000001.jpg']


def test_prefix_stable(runs, tmp_path):
    """Image i does not depend on how many images are generated."""
    generate_synthetic_coco(tmp_path, num_train=3, num_val=2,
                            img_size=SMALL['img_size'])
    full = _all_files(runs['a'][0])
    for rel, data in _all_files(tmp_path).items():
        if rel.endswith('.jpg'):
            assert full[rel] == data, rel


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_structure(runs, split):
    root, _ = runs['a']
    d = _load(root, f'annotations/person_keypoints_{split}.json')
    assert set(d) >= {'info', 'images', 'annotations', 'categories'}
    W, H = SMALL['img_size']
    assert d['categories'] == [{
        'supercategory': 'person', 'id': 1, 'name': 'person',
        'keypoints': list(COCO_KEYPOINT_NAMES),
        'skeleton': [list(s) for s in COCO_SKELETON]}]
    assert len(COCO_SKELETON) == 19
    assert COCO_KEYPOINT_NAMES[5] == 'left_shoulder'
    img_ids = [im['id'] for im in d['images']]
    assert len(set(img_ids)) == len(img_ids)
    for im in d['images']:
        assert (im['width'], im['height']) == (W, H)
        assert (root / split / im['file_name']).is_file()
    ann_ids = [a['id'] for a in d['annotations']]
    assert len(set(ann_ids)) == len(ann_ids) > 0
    for a in d['annotations']:
        assert a['image_id'] in img_ids
        assert a['category_id'] == 1 and a['iscrowd'] == 0
        k = np.asarray(a['keypoints'], float).reshape(17, 3)
        assert set(np.unique(k[:, 2])) <= {0, 1, 2}
        assert a['num_keypoints'] == int((k[:, 2] > 0).sum())
        hidden = k[:, 2] == 0
        assert np.all(k[hidden, :2] == 0)
        vis = k[~hidden]
        assert np.all((vis[:, 0] >= 0) & (vis[:, 0] <= W - 1))
        assert np.all((vis[:, 1] >= 0) & (vis[:, 1] <= H - 1))
        x, y, w, h = a['bbox']
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert x + w <= W and y + h <= H
        assert 0 < a['area'] <= w * h
        assert isinstance(a['segmentation'], list)
        for poly in a['segmentation']:
            assert len(poly) >= 6 and len(poly) % 2 == 0
            p = np.asarray(poly).reshape(-1, 2)
            assert p[:, 0].min() >= x and p[:, 0].max() <= x + w - 1
            assert p[:, 1].min() >= y and p[:, 1].max() <= y + h - 1


def test_detections(runs):
    root, _ = runs['a']
    gt = _load(root, FILES[1])
    dets = _load(root, FILES[2])
    W, H = SMALL['img_size']
    assert {d['image_id'] for d in dets} == {im['id'] for im in gt['images']}
    for d in dets:
        assert d['category_id'] == 1
        assert 0 < d['score'] <= 1
        x, y, w, h = d['bbox']
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert x + w <= W + 1e-6 and y + h <= H + 1e-6

    def iou(a, b):
        ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
        iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
        ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
        inter = iw * ih
        return inter / (a[2] * a[3] + b[2] * b[3] - inter)

    # every GT person has a matching high-score detection
    for a in gt['annotations']:
        best = max(iou(a['bbox'], d['bbox']) for d in dets
                   if d['image_id'] == a['image_id'] and d['score'] >= 0.3)
        assert best > 0.6


def test_statistics(stats_set):
    anns = stats_set['annotations']
    per_img = {}
    for a in anns:
        per_img[a['image_id']] = per_img.get(a['image_id'], 0) + 1
    assert max(per_img.values()) >= 2
    vis = np.array([a['keypoints'] for a in anns]).reshape(-1, 17, 3)[..., 2]
    assert (vis == 1).any(axis=1).sum() >= 1  # occluded keypoints
    assert (vis == 0).any(axis=1).sum() >= 1  # truncated keypoints
    assert (vis == 2).mean() > 0.5
    heights = [a['bbox'][3] for a in anns]
    assert max(heights) > 3 * min(heights)  # varied scale


def test_people_are_drawn_at_visible_keypoints():
    changed, total = 0, 0
    for i in range(8):
        img, anns, bg = S.render_image(image_rng(5, 'train', i), (192, 144),
                                       return_background=True)
        assert img.shape == (144, 192, 3) and img.dtype == np.uint8
        for a in anns:
            for x, y, v in np.asarray(a['keypoints']).reshape(17, 3):
                if v != 2:
                    continue
                xi, yi = int(round(x)), int(round(y))
                y0, x0 = max(yi - 1, 0), max(xi - 1, 0)
                diff = np.abs(img[y0:yi + 2, x0:xi + 2].astype(int) -
                              bg[y0:yi + 2, x0:xi + 2].astype(int))
                total += 1
                changed += diff.mean() > 12
    assert total > 50
    assert changed / total > 0.9


def _angle(a, b):
    return math.degrees(math.acos(np.clip(
        np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


@pytest.mark.parametrize('kind', list(POSE_KINDS))
def test_skeleton_proportions_and_joint_ranges(kind):
    rng = np.random.default_rng(0)
    P = S.BODY_PROPORTIONS
    for _ in range(20):
        pts, info = S.sample_person_3d(rng, kind)
        for side in ('left', 'right'):
            for a, b, key in (('shoulder', 'elbow', 'upper_arm'),
                              ('elbow', 'wrist', 'forearm'),
                              ('hip', 'knee', 'thigh'),
                              ('knee', 'ankle', 'shank')):
                ln = np.linalg.norm(pts[f'{side}_{b}'] - pts[f'{side}_{a}'])
                assert 0.9 * P[key] <= ln <= 1.1 * P[key], (kind, side, key)
            # elbows and knees bend within anatomical ranges
            el = _angle(pts[f'{side}_elbow'] - pts[f'{side}_shoulder'],
                        pts[f'{side}_wrist'] - pts[f'{side}_elbow'])
            kn = _angle(pts[f'{side}_knee'] - pts[f'{side}_hip'],
                        pts[f'{side}_ankle'] - pts[f'{side}_knee'])
            assert el <= 150 and kn <= 140
        # left / right limbs of one person have equal lengths
        for a, b in (('shoulder', 'elbow'), ('elbow', 'wrist'),
                     ('hip', 'knee'), ('knee', 'ankle')):
            l_len = np.linalg.norm(pts[f'left_{a}'] - pts[f'left_{b}'])
            r_len = np.linalg.norm(pts[f'right_{a}'] - pts[f'right_{b}'])
            assert l_len == pytest.approx(r_len)
        # body frame: x is the person's left
        assert pts['left_hip'][0] > pts['right_hip'][0]
        assert pts['left_ear'][0] > pts['right_ear'][0]
        # shoulder width vs. torso and thigh length stays humanly plausible
        sw = np.linalg.norm(pts['left_shoulder'] - pts['right_shoulder'])
        hw = np.linalg.norm(pts['left_hip'] - pts['right_hip'])
        assert 0.5 < sw / hw < 2.2
        assert 0.5 < sw / info['prop']['torso'] < 1.0


def test_left_right_in_image():
    """Seen from the front the left side is on the image right."""
    rng = np.random.default_rng(1)
    for _ in range(20):
        pts, _ = S.sample_person_3d(rng, 'standing')
        front, _ = S.project_points(pts, 0.0, 0.0, 200.0, (100.0, 150.0))
        back, _ = S.project_points(pts, math.pi, 0.0, 200.0, (100.0, 150.0))
        for j in ('shoulder', 'hip'):
            assert front[f'left_{j}'][0] > front[f'right_{j}'][0]
            assert back[f'left_{j}'][0] < back[f'right_{j}'][0]
        # image y grows downwards: head above hips above ankles
        assert front['nose'][1] < front['left_hip'][1] < front['left_ankle'][1]
    # a person seen from the back has nose and eyes flagged occluded (v=1)
    person = Person(np.random.default_rng(2), 'standing')
    person.yaw = math.pi
    fv = person.face_visibility()
    assert not fv['nose'] and not fv['left_eye'] and not fv['right_eye']
    person.yaw = 0.0
    person.info['head_frame'] = np.eye(3)
    assert all(person.face_visibility().values())


@pytest.mark.parametrize('kwargs,bad', [
    (dict(num_train=-1), '-1'),
    (dict(num_val=-7), '-7'),
    (dict(img_size=(10, 200)), '10'),
    (dict(img_size=(320,)), '(320,)'),
    (dict(seed=-3), '-3'),
    (dict(max_people=0), '0'),
    (dict(jpeg_quality=101), '101'),
    (dict(workers=-2), '-2'),
    (dict(num_train=2.5), '2.5'),
])
def test_bad_arguments(tmp_path, kwargs, bad):
    with pytest.raises(ValueError) as e:
        generate_synthetic_coco(tmp_path / 'x', **kwargs)
    assert bad in str(e.value)
    name = next(iter(kwargs))
    assert name in str(e.value)
    assert not (tmp_path / 'x').exists()


def test_cli(tmp_path, capsys):
    rc = S.main([str(tmp_path), '--num-train', '3', '--num-val', '2',
                 '--img-size', '128', '96', '--seed', '4'])
    assert rc == 0
    out = capsys.readouterr().out
    assert 'train: 3 images' in out and 'val:   2 images' in out
    assert str(tmp_path) in out
    d = _load(tmp_path, FILES[0])
    assert d['images'][0]['width'] == 128 and d['images'][0]['height'] == 96
    with pytest.raises(SystemExit) as e:
        S.main([str(tmp_path / 'y'), '--num-val', '-5'])
    assert e.value.code == 2
    assert '-5' in capsys.readouterr().err
