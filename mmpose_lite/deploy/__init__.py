"""Deploy mode: exact inference-time rewrites and ONNX export."""
from .fuse import REWRITES, DeployMixin, fold_bn, register_rewrite, switch_to_deploy, traced_layout

__all__ = ['switch_to_deploy', 'fold_bn', 'register_rewrite', 'REWRITES', 'DeployMixin', 'traced_layout']
