#!/usr/bin/env bash
# The main job on a fresh machine: set up the environment (cached after the
# first run), generate the embedded synthetic data if absent, train X-HRNet on
# it on the CPU and evaluate it with MMPose's CocoMetric.
# Extra arguments go to `python -m mmpose_lite.demo` (see --help).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/bootstrap.sh
exec "${MMPOSE_LITE_VENV:-$PWD/.venv}/bin/python" -m mmpose_lite.demo "$@"
