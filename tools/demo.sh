#!/usr/bin/env bash
# The main job on a fresh machine: set up the environment (cached after the
# first run), generate the embedded synthetic data if absent, train X-HRNet on
# it on the CPU and evaluate it with MMPose's CocoMetric.
# Extra arguments go to `python -m mmpose_lite.demo` (see --help); every
# training setting is in the demo config, and --data-root/--epochs are
# shorthands for --cfg-options (the config's derived_keys table).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/bootstrap.sh
exec "${MMPOSE_LITE_VENV:-$PWD/.venv}/bin/python" -m mmpose_lite.demo "$@"
