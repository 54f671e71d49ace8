"""Deploy mode: exact inference-time rewrites and ONNX export."""
from .fuse import REWRITES, DeployMixin, fold_bn, register_rewrite, switch_to_deploy

__all__ = ['switch_to_deploy', 'fold_bn', 'register_rewrite', 'REWRITES', 'DeployMixin']
