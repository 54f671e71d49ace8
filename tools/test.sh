#!/usr/bin/env bash
# The test suite on a fresh machine: set up the environment (cached after the
# first run), then run pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/bootstrap.sh
exec "${MMPOSE_LITE_VENV:-$PWD/.venv}/bin/python" -m pytest tests "$@"
