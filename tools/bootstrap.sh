#!/usr/bin/env bash
# Set up (or reuse) the Python environment that mmpose_lite runs in.
#
# Safe to re-run: when nothing it depends on has changed it returns in about a
# second. The slow step -- compiling MMCV 2.1.0's C++ ops (~20 min on 2 cores) --
# is cached as a wheel under $MMPOSE_LITE_CACHE, in a folder whose name carries
# the exact torch build, Python ABI and patch level, so a cached wheel is never
# paired with another torch.
#
# Environment variables:
#   MMPOSE_LITE_VENV   where the virtual environment lives (default: <repo>/.venv)
#   MMPOSE_LITE_CACHE  where built wheels are kept (default: ~/.cache/mmpose_lite)
#   PYTHON             interpreter used to create the venv (default: python3.11 or python3)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMPOSE_LITE_VENV:-$REPO/.venv}"
CACHE="${MMPOSE_LITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmpose_lite}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

TORCH_SPEC="torch==2.14.1 torchvision==0.29.1"
MMCV_VERSION="2.1.0"
MMPOSE_VERSION="1.3.2"
XTCOCOTOOLS_VERSION="1.14.3"
OPENMIM_VERSION="0.3.9"
# bump when the way mmcv is patched/built changes: it is part of the cache key
MMCV_PATCH_LEVEL="cxx20-1"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

# The stamp records everything that decides the environment's content; if it
# matches, the environment is complete and nothing needs doing.
stamp_inputs() {
  cat "$REPO/tools/bootstrap.sh" "$REPO/requirements/runtime.txt" \
      "$REPO/requirements/tests.txt" "$REPO/pyproject.toml" 2>/dev/null
  "$PYTHON" -c 'import sys; print(sys.version)'
}
STAMP_WANT="$(stamp_inputs | sha256sum | cut -d' ' -f1)"
STAMP_FILE="$VENV/.mmpose_lite_stamp"
if [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP_WANT" ]]; then
  exit 0
fi

T0=$SECONDS
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating virtual environment at $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade "pip<26" wheel

log "installing $TORCH_SPEC"
# shellcheck disable=SC2086
"${PIP[@]}" install -q $TORCH_SPEC
# torch 2.14 wants setuptools >= 77; setuptools < 81 still ships pkg_resources,
# which mmcv 2.1.0's setup.py imports.
"${PIP[@]}" install -q "setuptools==80.9.0" "cython<3.1" ninja -r "$REPO/requirements/runtime.txt"

# ---------------------------------------------------------------- mmcv (ops)
TORCH_ID="$("$PY" -c 'import torch,sys; g=(torch.version.git_version or "na")[:10]; print("torch%s-git%s-cp%d%d" % (torch.__version__, g, *sys.version_info[:2]))')"
MMCV_KEY="mmcv${MMCV_VERSION}-${MMCV_PATCH_LEVEL}-${TORCH_ID}-$(uname -m)"
MMCV_WHEEL_DIR="$CACHE/wheels/$MMCV_KEY"
have_mmcv_ops() { "$PY" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "'"$MMCV_VERSION"'"' >/dev/null 2>&1; }

if ! have_mmcv_ops; then
  if ! ls "$MMCV_WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION with its C++ ops against $TORCH_ID (one time, ~20 min on 2 cores)"
    log "  the wheel is cached in $MMCV_WHEEL_DIR"
    BUILD="$(mktemp -d)"
    trap 'rm -rf "$BUILD"' EXIT
    "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD"
    SRC="$BUILD/mmcv-$MMCV_VERSION"
    # torch >= 2.14's headers need C++20; mmcv 2.1.0 hard-codes -std=c++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
    grep -q -- '-std=c++20' "$SRC/setup.py" || { log "patching mmcv setup.py failed"; exit 1; }
    mkdir -p "$MMCV_WHEEL_DIR.tmp"
    T_BUILD=$SECONDS
    ( cd "$SRC" && MMCV_WITH_OPS=1 FORCE_CUDA=0 FORCE_MLU=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$MMCV_WHEEL_DIR.tmp" . )
    rm -rf "$MMCV_WHEEL_DIR" && mv "$MMCV_WHEEL_DIR.tmp" "$MMCV_WHEEL_DIR"
    log "built mmcv $MMCV_VERSION in $((SECONDS - T_BUILD)) s"
  else
    log "reusing cached mmcv wheel from $MMCV_WHEEL_DIR"
  fi
  "${PIP[@]}" install -q --no-deps --force-reinstall "$MMCV_WHEEL_DIR"/mmcv-*.whl
fi
have_mmcv_ops || { log "mmcv.ops does not import after install; remove $MMCV_WHEEL_DIR and re-run"; exit 1; }

# ------------------------------------------------------------ OpenMMLab stack
# xtcocotools' wheel is built against another numpy ABI; build it from source
# against ours (pip caches that build too).
"${PIP[@]}" install -q --no-build-isolation --no-binary xtcocotools "xtcocotools==$XTCOCOTOOLS_VERSION"
# mmpose declares chumpy (does not build, unused in 2D pose) and openmim pulls
# opendatalab (pins an old setuptools): install both without their declared
# dependencies; everything they need at run time is in requirements/runtime.txt.
"${PIP[@]}" install -q --no-deps "mmpose==$MMPOSE_VERSION" "openmim==$OPENMIM_VERSION"
"${PIP[@]}" install -q -r "$REPO/requirements/tests.txt"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$REPO"

log "checking the stack imports"
"$PY" - <<'EOF'
import mmcv, mmcv.ops, mmengine, mmdet, mmpose, torch, torchvision, xtcocotools, pycocotools, mim
from mmpose.utils import register_all_modules
register_all_modules()
import mmpose.visualization  # imports torchvision
import mmpose_lite
print(f'[bootstrap] torch {torch.__version__}, torchvision {torchvision.__version__}, mmcv {mmcv.__version__} (ops), '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, mmpose {mmpose.__version__}, mmpose_lite {mmpose_lite.__version__}')
EOF
echo "$STAMP_WANT" > "$STAMP_FILE"
log "environment ready in $((SECONDS - T0)) s: $VENV"
