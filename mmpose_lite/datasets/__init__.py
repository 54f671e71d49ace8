"""Datasets shipped with mmpose_lite.

The synthetic COCO-keypoint generator (the package :mod:`.synthetic`) needs
only numpy and OpenCV (no torch / MMPose). Its public names are re-exported
lazily (PEP 562): ``import mmpose_lite`` (which every config's
``custom_imports`` runs) does not load the generator's modules until one of
them is used.
"""
import importlib
from typing import Any

_SYNTHETIC_NAMES = ('COCO_KEYPOINT_NAMES', 'COCO_PERSON_CATEGORY', 'COCO_SKELETON', 'LOCK_NAME', 'MANIFEST_NAME',
                    'SyntheticCocoConfig', 'SyntheticCocoResult', 'generate_synthetic_coco', 'read_manifest')

__all__ = list(_SYNTHETIC_NAMES)


def __getattr__(name: str) -> Any:
    if name in _SYNTHETIC_NAMES:
        module = importlib.import_module('.synthetic', __name__)
        return getattr(module, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(list(globals()) + list(_SYNTHETIC_NAMES))
