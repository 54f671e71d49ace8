"""Accuracy of bf16 eager and INT8 onnxruntime against fp32 of the same checkpoint.

    python tools/precision_report.py CONFIG CHECKPOINT [--real ANN.json[:IMG_DIR] ...] [--calib-data DATA]

Prints the val-set AP per precision (the config's own evaluator) and, on the
``--real`` images with their GT boxes, the keypoint displacement (input
pixels) and heatmap cosine similarity against fp32. See
mmpose_lite/deploy/precision.py and ``--help``.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from mmpose_lite.deploy.precision import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
