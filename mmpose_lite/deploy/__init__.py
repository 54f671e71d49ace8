"""Deploy mode: exact inference-time rewrites and ONNX export."""
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
