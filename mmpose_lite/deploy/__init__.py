"""Deploy mode: exact inference-time rewrites, ONNX export (onnx.py), INT8 quantization (quantize.py) and
lower-precision accuracy (precision.py, data.py)."""
from .fuse import (
    REWRITES,
    Deployable,
    DeployMixin,
    can_fold_bn,
    fold_bn,
    register_rewrite,
    switch_to_deploy,
    traced_layout,
)

__all__ = [
    'switch_to_deploy', 'Deployable', 'fold_bn', 'can_fold_bn', 'register_rewrite', 'REWRITES', 'DeployMixin',
    'traced_layout'
]
