"""Missing data gives a clear error, not a traceback, and writes nothing."""
import os
import shutil
import subprocess
import sys

import pytest

from mmpose_lite.datasets.checked import CheckedCocoDataset, MissingDataError

from ..conftest import REPO


def test_missing_files_are_named(tmp_path):
    (tmp_path / 'images').mkdir()
    with pytest.raises(MissingDataError) as err:
        CheckedCocoDataset(ann_file='annotations/missing.json', data_root=str(tmp_path),
                           data_prefix=dict(img='images/'), bbox_file=str(tmp_path / 'dets.json'),
                           test_mode=True)
    msg = str(err.value)
    assert os.path.join(str(tmp_path), 'annotations/missing.json') in msg
    assert 'dets.json' in msg and 'image folder' not in msg
    assert 'bash tools/demo.sh' in msg and 'data/coco/' in msg
    assert isinstance(err.value, SystemExit)


@pytest.mark.skipif(shutil.which('mim') is None and not os.path.exists(os.path.join(os.path.dirname(
    sys.executable), 'mim')), reason='the mim command is not installed')
def test_mim_train_without_coco_stops_with_the_message(tmp_path):
    """`mim train mmpose configs/xhrnet_coco.py` exactly as typed, on a machine without COCO."""
    if (REPO / 'data' / 'coco' / 'annotations').exists():
        pytest.skip('data/coco is present here, so training would start')
    mim = os.path.join(os.path.dirname(sys.executable), 'mim')
    work_dir = tmp_path / 'work'
    proc = subprocess.run([mim, 'train', 'mmpose', 'configs/xhrnet_coco.py', '--gpus', '0', '--work-dir',
                           str(work_dir)], cwd=REPO, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'COCO data not found' in out and 'data/coco/annotations/person_keypoints_train2017.json' in out
    assert 'bash tools/demo.sh' in out
    assert 'Traceback' not in out
    assert not list(work_dir.rglob('*.pth'))
