"""Datasets shipped with mmpose_lite.

The synthetic COCO-keypoint generator needs only numpy and OpenCV (no torch /
MMPose). Its names are re-exported lazily (PEP 562) so that
``python -m mmpose_lite.datasets.synthetic`` does not find the module already
imported by the package (which would make ``runpy`` warn).
"""
import importlib
from typing import Any

_SYNTHETIC_NAMES = ('COCO_KEYPOINT_NAMES', 'COCO_PERSON_CATEGORY',
                    'COCO_SKELETON', 'SyntheticCocoConfig',
                    'SyntheticCocoResult', 'generate_synthetic_coco')

__all__ = list(_SYNTHETIC_NAMES)


def __getattr__(name: str) -> Any:
    if name in _SYNTHETIC_NAMES:
        module = importlib.import_module('.synthetic', __name__)
        return getattr(module, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(list(globals()) + list(_SYNTHETIC_NAMES))
