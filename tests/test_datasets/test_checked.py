"""Missing data gives a clear error, not a traceback, and writes nothing."""
import os
import subprocess
import sys

import pytest

from mmpose_lite.datasets.checked import CheckedCocoDataset, MissingDataError
from ..conftest import REPO, mim_executable


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


@pytest.mark.integration
@pytest.mark.timeout(600)
@pytest.mark.skipif(mim_executable() is None, reason='the mim command is not installed')
def test_mim_train_without_coco_stops_with_the_message(tmp_path):
    """`mim train mmpose configs/xhrnet_coco.py` exactly as typed, on a machine without COCO."""
    if (REPO / 'data' / 'coco' / 'annotations').exists():
        pytest.skip('data/coco is present here, so training would start')
    work_dir = tmp_path / 'work'
    proc = subprocess.run([mim_executable(), 'train', 'mmpose', 'configs/xhrnet_coco.py', '--gpus', '0', '--work-dir',
                           str(work_dir)], cwd=REPO, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'data not found' in out and 'data/coco/annotations/person_keypoints_train2017.json' in out
    assert 'bash tools/demo.sh' in out
    # MMPose's train script stops with the message alone; mim 0.3.9 then adds a
    # traceback of its own for any failed run (an unguarded check_call).
    before_mim, _, mims = out.partition('Traceback')
    assert 'data not found' in before_mim
    assert 'CalledProcessError' in mims and 'mmpose_lite' not in mims and 'mmengine' not in mims
    assert not list(work_dir.rglob('*.pth'))


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_train_script_without_coco_prints_no_traceback(tmp_path):
    import mmpose
    train_py = os.path.join(os.path.dirname(mmpose.__file__), '.mim', 'tools', 'train.py')
    proc = subprocess.run([sys.executable, train_py, 'configs/xhrnet_coco.py', '--work-dir', str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert 'Traceback' not in out
    assert out.rstrip().endswith('config at your copy.')
    # the message comes first: nothing of the Runner's environment/config log precedes it
    assert 'System environment' not in out and 'Config:' not in out
    lines = [line for line in out.splitlines() if 'pkg_resources' not in line and '_bootstrap' not in line]
    assert 'data not found' in lines[0], lines[:3]
    assert not any(tmp_path.iterdir())  # nothing written
