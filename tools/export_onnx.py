"""Export a config's pose model to ONNX and check it in onnxruntime.

    python tools/export_onnx.py configs/xhrnet_coco.py work_dirs/xhrnet.onnx [--checkpoint ...] [--dynamic-spatial]
    python tools/export_onnx.py CONFIG work_dirs/m.onnx --checkpoint CKPT --quantize int8 \
        --calib-data DATASET_CONFIG_OR_DIR --calib-images 32     # also writes work_dirs/m_int8.onnx

Same as the ``mmpose-lite-export`` entry point; see ``--help``.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from mmpose_lite.deploy.onnx import main  # noqa: E402

if __name__ == '__main__':
    main()
