"""A config that names our modules without ``custom_imports``: nothing of
mmpose_lite runs then, so MMEngine's registry error is what the user sees.
These tests pin that message and check that our troubleshooting page gives
the fix for it."""
import os
import subprocess
import sys

import pytest

from ..conftest import REPO

CONFIG = """_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_litehrnet-18_8xb64-210e_coco-256x192.py']
model = dict(backbone=dict(_delete_=True, type='XHRNet', arch='s18'))
"""
REGISTRY_ERROR = 'XHRNet is not in the mmpose::model registry'


def _run(args, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('PYTHONPATH', None)  # as a user's shell: mmpose_lite is importable (installed) but not imported
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def test_troubleshooting_page_gives_the_fix():
    page = (REPO / 'docs' / 'troubleshooting.md').read_text()
    assert REGISTRY_ERROR.replace('XHRNet', '<Type>') in page
    assert "custom_imports = dict(imports=['mmpose_lite'], allow_failed_imports=False)" in page


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_mmpose_train_script_without_custom_imports(tmp_path):
    """What `mim train mmpose CONFIG` runs: the registry error ends the
    output, no file but the log is written."""
    import mmpose
    cfg = tmp_path / 'no_imports.py'
    cfg.write_text(CONFIG)
    train_py = os.path.join(os.path.dirname(mmpose.__file__), '.mim', 'tools', 'train.py')
    work = tmp_path / 'work'
    proc = _run([train_py, str(cfg), '--work-dir', str(work)], tmp_path)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"KeyError: '{REGISTRY_ERROR}") and 'import-the-custom-module' in last
    assert not list(work.rglob('*.pth'))
