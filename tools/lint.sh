#!/usr/bin/env bash
# Lint the repository with ruff (pyflakes, pycodestyle, import order; the
# settings are in pyproject.toml). tools/test.sh runs it before the tests, so
# CI does too. Extra arguments go to `ruff check`: `bash tools/lint.sh --fix`
# rewrites what ruff can fix by itself (import order, unused imports).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${MMPOSE_LITE_VENV:-$PWD/.venv}/bin/python"
if ! "$PY" -m ruff --version >/dev/null 2>&1; then
  echo "[lint] ruff is not installed in ${PY%/bin/python}: run bash tools/bootstrap.sh (requirements/tests.txt pins it)" >&2
  exit 2
fi
exec "$PY" -m ruff check "$@" .
