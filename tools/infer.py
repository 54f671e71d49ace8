"""Poses on an image, a folder of images or a video, with MMPose's inferencer.

    python tools/infer.py INPUT --config CFG --checkpoint CKPT --whole-image --out-dir out

Same as the ``mmpose-lite-infer`` entry point; see ``--help``.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from mmpose_lite.apis.cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
