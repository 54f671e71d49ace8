"""Benchmark mmpose_lite against the MMPose model zoo in one run.

    python tools/benchmark.py                          # all models; eager + onnxruntime; table, CSV, PNG
    python tools/benchmark.py --runtimes eager compile ort --train-step 3
    python tools/benchmark.py --models LightHRNet-18 XHRNet-S18 'mmpose LiteHRNet-18' --runtimes eager
    python tools/benchmark.py --list                   # the row names --models takes (exactly)

Same as the ``mmpose-lite-benchmark`` entry point; see ``--help``.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from mmpose_lite.benchmark.cli import main  # noqa: E402

if __name__ == '__main__':
    main()
