import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get('MMPOSE_LITE_SHARED_DATA', REPO.parent / 'shared' / 'data'))


def shared_data(name: str) -> Path:
    """``../shared/data/<name>``, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f'real sample data {path} is absent (it sits beside the checkout as ../shared/data in CI; '
                    'set MMPOSE_LITE_SHARED_DATA to point elsewhere)')
    return path


@pytest.fixture(scope='session', autouse=True)
def _registered():
    from mmpose.utils import register_all_modules
    register_all_modules()
    import mmpose_lite  # noqa: F401
