"""Inference on images, folders and videos over MMPose's ``MMPoseInferencer``:
:mod:`.inference` (the inferencer, its runs), :mod:`.inputs` (inputs checked),
:mod:`.boxes` (user boxes), and the command line ``mmpose-lite-infer`` (:mod:`.cli`).

Not imported by ``import mmpose_lite`` (it registers nothing)."""
from .boxes import BoxDetector, read_box_file
from .inference import NoDetectorError, build_inferencer, run_inference
from .inputs import InferenceInputError, ResolvedInput, resolve_input

__all__ = ['build_inferencer', 'resolve_input', 'run_inference', 'read_box_file', 'BoxDetector', 'ResolvedInput',
           'InferenceInputError', 'NoDetectorError']
