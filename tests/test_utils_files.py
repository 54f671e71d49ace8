"""mmpose_lite.utils.files.atomic_output: the writer every tool saves through
(converted checkpoints, ONNX and INT8 models, the benchmark page)."""
import os
import stat

import pytest

from mmpose_lite.utils import files as FILES


def test_atomic_output_keeps_the_target_on_error_and_uses_the_umask(tmp_path):
    dst = tmp_path / 'out.onnx'
    dst.write_text('old')
    with pytest.raises(RuntimeError):
        with FILES.atomic_output(str(dst)) as tmp:
            open(tmp, 'w').write('half')
            raise RuntimeError('killed half-way')
    assert dst.read_text() == 'old' and sorted(p.name for p in tmp_path.iterdir()) == ['out.onnx']
    umask = os.umask(0o022)
    try:
        with FILES.atomic_output(str(tmp_path / 'new.md')) as tmp, open(tmp, 'w') as f:
            f.write('new')
    finally:
        os.umask(umask)
    assert (tmp_path / 'new.md').read_text() == 'new'
    assert stat.S_IMODE((tmp_path / 'new.md').stat().st_mode) == 0o644  # not mkstemp's 0o600
