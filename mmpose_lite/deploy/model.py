"""Build a pose model from a config for inference tools (benchmark, export)."""
import os.path as osp
from typing import Optional, Tuple

import torch
from mmengine.config import Config
from torch import nn

__all__ = ['load_config', 'build_pose_model', 'TensorForward']


def load_config(config: str) -> Config:
    """A config from a path, from MMPose's package (``'mmpose::...'``) or
    from this package's configs (``'mmpose_lite::...'``, found by
    :func:`mmpose_lite.utils.paths.config_path` wherever the package is
    installed)."""
    if config.startswith('mmpose::'):
        from mmengine.hub import get_config
        return get_config(config)
    if config.startswith('mmpose_lite::'):
        from mmpose_lite.utils.paths import config_path
        return Config.fromfile(config_path(config))
    if not osp.isfile(config):
        raise FileNotFoundError(f'config {config} does not exist; give a config path, one of ours as '
                                f"'mmpose_lite::body_2d_keypoint/...py' or an installed MMPose config as "
                                f"'mmpose::body_2d_keypoint/...py'")
    return Config.fromfile(config)


class TensorForward(nn.Module):
    """``x -> head outputs`` of a top-down pose model (its ``mode='tensor'``),
    as a tensor or a tuple of tensors, so that tracers and exporters see a
    plain module."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        out = self.model(x, None, mode='tensor')
        return tuple(out) if isinstance(out, (list, tuple)) else out


def build_pose_model(config: str, checkpoint: Optional[str] = None, deploy: bool = False,
                     device: str = 'cpu') -> Tuple[nn.Module, Tuple[int, int], Config]:
    """Build ``config``'s pose model in eval mode.

    Args:
        config (str): Config path or ``'mmpose::...'``.
        checkpoint (str, optional): Weights to load (strict, with a clear error
            when they do not fit). Default: None (random init, enough for speed).
        deploy (bool): Apply :func:`mmpose_lite.deploy.switch_to_deploy`.
        device (str): Device. Default: 'cpu'.

    Returns:
        tuple: The model, its input size ``(w, h)`` and the config.
    """
    from mmpose.registry import MODELS
    from mmpose.utils import register_all_modules
    register_all_modules()
    import mmpose_lite  # noqa: F401
    from mmpose_lite.utils import load_weights
    from .fuse import switch_to_deploy

    cfg = load_config(config)
    cfg.model.setdefault('backbone', {})['init_cfg'] = None
    cfg.model.get('test_cfg', {})['flip_test'] = False
    model = MODELS.build(cfg.model)
    if checkpoint:
        load_weights(model, checkpoint)
    model.to(device)
    model.eval()  # MMPose's LiteHRNet.eval() returns None: do not chain
    if deploy:
        switch_to_deploy(model)
    size = cfg.model.head.get('decoder', cfg.get('codec', {})).get('input_size')
    if size is None:
        raise ValueError(f'{config}: cannot tell the input size (no model.head.decoder.input_size)')
    return model, tuple(size), cfg
