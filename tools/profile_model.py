"""Where a benchmark model's batch-1 CPU time goes, per operator type.

    python tools/profile_model.py --runtime eager
    python tools/profile_model.py --runtime ort --models LightHRNet-18 "mmpose LiteHRNet-18"

See mmpose_lite/benchmark/profile.py and docs/benchmark.md.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from mmpose_lite.benchmark.profile import main  # noqa: E402

if __name__ == '__main__':
    main()
