"""Fixtures of the bad-input catalogue: a tiny synthetic COCO set copied per
test (so a test can damage its copy), and a snapshot of a folder's files to
show that an error lost nothing already written."""
import hashlib
import json
import shutil
from pathlib import Path
from typing import Dict

import pytest


@pytest.fixture(scope='session')
def synth_master(tmp_path_factory) -> Path:
    """A synthetic COCO-keypoint set: 3 train and 2 val images of 128x96."""
    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    root = tmp_path_factory.mktemp('bad_inputs') / 'synth'
    generate_synthetic_coco(str(root), num_train=3, num_val=2, img_size=(128, 96), seed=0)
    return root


@pytest.fixture
def synth(synth_master, tmp_path) -> Path:
    """This test's own copy of :func:`synth_master`."""
    root = tmp_path / 'synth'
    shutil.copytree(synth_master, root)
    return root


def snapshot(root: Path) -> Dict[str, str]:
    """Relative path -> SHA-256 of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


def load_json(path: Path):
    return json.loads(path.read_text())


def dump_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj))


def coco_dataset(root: Path, split: str = 'train', bbox_file=None, pipeline=(), **kwargs):
    """A :class:`CheckedCocoDataset` over the synthetic set at ``root``
    (``bbox_file``: evaluation on detected boxes, test mode)."""
    from mmpose_lite.datasets.checked import CheckedCocoDataset
    kwargs.setdefault('data_prefix', dict(img=f'{split}/'))
    kwargs.setdefault('test_mode', bbox_file is not None)
    return CheckedCocoDataset(data_root=str(root), ann_file=f'annotations/person_keypoints_{split}.json',
                              bbox_file=None if bbox_file is None else str(bbox_file), pipeline=list(pipeline),
                              **kwargs)
