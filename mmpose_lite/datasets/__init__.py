"""Datasets shipped with mmpose_lite.

Importing this package needs only numpy and OpenCV (no torch / MMPose).
"""
from .synthetic import (COCO_KEYPOINT_NAMES, COCO_PERSON_CATEGORY,
                        COCO_SKELETON, SyntheticCocoConfig,
                        SyntheticCocoResult, generate_synthetic_coco)

__all__ = [
    'COCO_KEYPOINT_NAMES', 'COCO_PERSON_CATEGORY', 'COCO_SKELETON',
    'SyntheticCocoConfig', 'SyntheticCocoResult', 'generate_synthetic_coco'
]
