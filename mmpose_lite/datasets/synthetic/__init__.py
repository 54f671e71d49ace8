"""Deterministic generator of a synthetic COCO-keypoint dataset.

The dataset is the package's embedded default data: small, CPU-friendly and
fully reproducible from a seed. Every image shows 1 to ``max_people``
articulated people rendered with body volume (tapered limbs, a torso, a head
with face marks, clothing colours, shading and texture) over varied
backgrounds with distractor shapes, occluder objects and truncation at the
image border.

The modules follow the pipeline:

* :mod:`.config`: the parameters (:class:`SyntheticCocoConfig`), declared
  once, checked when made; the function and the CLI take them from there.
* :mod:`.body`: body model: 3D skeleton sampling by forward kinematics and
  the orthographic camera.
* rendering: :mod:`.canvas` (image plus layer buffer, primitives, colours),
  :mod:`.person` (a person's appearance and depth-sorted body parts),
  :mod:`.scenery` (background, distractors, occluders), :mod:`.scene` (one
  image: people placed, drawn, annotated; camera effects).
* :mod:`.annotation`: COCO fields and keypoint visibility of a drawn person.
* writing: :mod:`.splits` (images and annotation file of each split, worker
  pool), :mod:`.detections` (the val detections file), :mod:`.atomic`
  (staging, manifest, lock: complete-or-absent output), :mod:`.generate`
  (:func:`generate_synthetic_coco`).
* :mod:`.cli`: the command line.

Output layout (``out_dir``)::

    annotations/person_keypoints_train.json
    annotations/person_keypoints_val.json
    annotations/person_detection_results_val.json
    train/000000000001.jpg ...
    val/000000000001.jpg ...
    synthetic_coco_manifest.json   (written last: the data set is complete)
    .synthetic_coco.lock           (serialises runs into this folder)

Only numpy, OpenCV and the standard library are used for the data::

    python -m mmpose_lite.datasets.synthetic data/synth_coco --num-train 1000
"""
from .annotation import COCO_KEYPOINT_NAMES, COCO_PERSON_CATEGORY, COCO_SKELETON
from .atomic import LOCK_NAME, MANIFEST_NAME, read_manifest
from .body import BODY_PROPORTIONS, project_points, sample_person_3d
from .cli import main
from .config import SyntheticCocoConfig
from .generate import SyntheticCocoResult, generate_synthetic_coco
from .scene import render_image

__all__ = [
    'COCO_KEYPOINT_NAMES',
    'COCO_SKELETON',
    'COCO_PERSON_CATEGORY',
    'SyntheticCocoConfig',
    'SyntheticCocoResult',
    'generate_synthetic_coco',
    'read_manifest',
    'MANIFEST_NAME',
    'LOCK_NAME',
    'render_image',
    'sample_person_3d',
    'project_points',
    'BODY_PROPORTIONS',
    'main',
]
