#!/usr/bin/env bash
# The test suite on a fresh machine: set up the environment (cached after the
# first run), lint (tools/lint.sh), then run pytest. Extra arguments go to
# pytest. The tests run even when the lint fails; the command fails if either
# does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/bootstrap.sh
lint_status=0
bash tools/lint.sh || lint_status=$?
test_status=0
"${MMPOSE_LITE_VENV:-$PWD/.venv}/bin/python" -m pytest tests "$@" || test_status=$?
if (( lint_status != 0 )); then
  echo "[test] the lint failed (above); bash tools/lint.sh --fix fixes import order and unused imports" >&2
fi
exit $(( test_status != 0 ? test_status : lint_status ))
