"""Exact inference-time rewrites ("deploy mode").

:func:`switch_to_deploy` turns an eval-mode model into an inference-only
model with the same outputs (to float rounding):

* every module that defines its own ``switch_to_deploy()`` rewrites itself
  (a unit or block brings its own fusion, e.g. Slide attention merges its
  fixed and learnable shift convolutions);
* modules that define ``post_deploy()`` run it last (a backbone whose
  deploy form runs channels-last converts itself there);
* BatchNorm is folded into the convolution it follows, wherever that
  adjacency is known for certain: MMCV's ``ConvModule`` (order
  ``conv -> norm``), ``nn.Sequential`` containers holding ``Conv2d`` then a
  BatchNorm, and MMPose's ResNet ``BasicBlock``/``Bottleneck``
  (``conv_i -> norm_i``). Further module types register a rewrite with
  :func:`register_rewrite`.

Folding uses the running statistics, so the deployed model is for inference
only; :func:`switch_to_deploy` puts it in eval mode and marks it
``deployed``.
"""
from typing import Callable, Dict, Type

import contextlib

import torch
from mmcv.cnn import ConvModule
from mmpose.models.backbones.resnet import BasicBlock, Bottleneck
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['switch_to_deploy', 'fold_bn', 'register_rewrite', 'REWRITES', 'DeployMixin', 'traced_layout']

#: Rewrites per module type, applied to every instance (subclasses included).
REWRITES: Dict[Type[nn.Module], Callable[[nn.Module], None]] = {}


def register_rewrite(module_type: Type[nn.Module]):
    """Decorator registering an in-place deploy rewrite for ``module_type``."""

    def wrap(fn):
        REWRITES[module_type] = fn
        return fn

    return wrap


@torch.no_grad()
def fold_bn(conv: nn.Conv2d, bn: _BatchNorm) -> None:
    """Fold ``bn`` (eval statistics) into the preceding ``conv``, in place.

    ``bn(conv(x)) == conv'(x)`` with ``w' = w * s``, ``b' = (b - mean) * s + beta``
    and ``s = gamma / sqrt(var + eps)``.
    """
    if not isinstance(conv, nn.Conv2d) or not isinstance(bn, _BatchNorm):
        raise TypeError(f'fold_bn needs a Conv2d and a BatchNorm, got {type(conv).__name__} and '
                        f'{type(bn).__name__}')
    if bn.running_var is None:
        raise ValueError('fold_bn: the BatchNorm tracks no running statistics (track_running_stats=False)')
    if conv.out_channels != bn.num_features:
        raise ValueError(f'fold_bn: conv has {conv.out_channels} output channels, BatchNorm {bn.num_features}')
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.affine:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.affine:
        shift = shift + bn.bias.double()
    if conv.bias is not None:
        shift = shift + conv.bias.double() * scale
    weight = conv.weight.double() * scale.view(-1, *([1] * (conv.weight.dim() - 1)))
    conv.weight.copy_(weight.to(conv.weight.dtype))
    conv.bias = nn.Parameter(shift.to(conv.weight.dtype), requires_grad=False)


def _is_bn(m) -> bool:
    return isinstance(m, _BatchNorm)


@register_rewrite(ConvModule)
def _conv_module(m: ConvModule) -> None:
    if not (m.with_norm and _is_bn(m.norm) and isinstance(m.conv, nn.Conv2d)):
        return
    order = list(m.order)
    if order.index('norm') != order.index('conv') + 1:
        return  # e.g. pre-activation order: the norm does not follow the conv
    fold_bn(m.conv, m.norm)
    m.add_module(m.norm_name, nn.Identity())
    m.with_norm = False


@register_rewrite(nn.Sequential)
def _sequential(m: nn.Sequential) -> None:
    children = list(m._modules.items())
    for (_, a), (name_b, b) in zip(children, children[1:]):
        if isinstance(a, nn.Conv2d) and _is_bn(b):
            fold_bn(a, b)
            m._modules[name_b] = nn.Identity()


def _resnet_block(m: nn.Module) -> None:
    for i in (1, 2, 3):
        conv, norm_name = getattr(m, f'conv{i}', None), getattr(m, f'norm{i}_name', None)
        if conv is not None and norm_name is not None and _is_bn(getattr(m, norm_name)):
            fold_bn(conv, getattr(m, norm_name))
            setattr(m, norm_name, nn.Identity())


register_rewrite(BasicBlock)(_resnet_block)
register_rewrite(Bottleneck)(_resnet_block)


def switch_to_deploy(model: nn.Module) -> nn.Module:
    """Apply every exact deploy rewrite to ``model`` in place and return it.

    Works on a whole MMPose pose estimator or on any sub-module. Modules'
    own rewrites follow MMPose's convention, ``switch_to_deploy(test_cfg)``
    (MMPose's reparameterizable layers and RTMO heads are included). Idempotent.
    The result is in eval mode and has ``deployed = True`` on every module;
    it is meant for inference (benchmarks, ONNX export), not for training.

    Example:
        >>> import torch
        >>> from mmpose_lite.models import LightHRNet
        >>> model = LightHRNet('18')
        >>> _ = model.eval()
        >>> x = torch.rand(1, 3, 64, 64)
        >>> ref = model(x)[0]
        >>> fused = switch_to_deploy(model)
        >>> n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
        >>> print(n_bn, torch.allclose(fused(x)[0], ref, atol=1e-5))
        0 True
    """
    model.eval()
    test_cfg = getattr(model, 'test_cfg', None)
    # Modules' own rewrites first (children before parents), then the
    # per-type rewrites. Dispatchers (MMPose's estimator method, our mixin)
    # are skipped: this loop already visits every module.
    for m in reversed(list(model.modules())):
        own = getattr(type(m), 'switch_to_deploy', None)
        if callable(own) and own not in _dispatchers() and not getattr(m, 'deployed', False):
            m.switch_to_deploy(test_cfg)
    for m in list(model.modules()):
        for module_type, fn in REWRITES.items():
            if isinstance(m, module_type):
                fn(m)
    # Last, modules that choose how their deploy form runs (e.g. a backbone
    # switching itself to channels-last), after all weights are final.
    for m in list(model.modules()):
        hook = getattr(m, 'post_deploy', None)
        if callable(hook) and not getattr(m, 'deployed', False):
            hook()
    for m in model.modules():
        m.deployed = True
    return model


class DeployMixin:
    """Gives a backbone the method form, ``backbone.switch_to_deploy()``,
    which applies :func:`switch_to_deploy` to it (and so also runs when
    MMPose's ``TopdownPoseEstimator.switch_to_deploy()`` visits it).
    """

    def switch_to_deploy(self, test_cfg=None):
        return switch_to_deploy(self)


def _dispatchers():
    from mmpose.models.pose_estimators.base import BasePoseEstimator
    return (DeployMixin.switch_to_deploy, BasePoseEstimator.switch_to_deploy)


@contextlib.contextmanager
def traced_layout(model: nn.Module):
    """Run ``model`` in NCHW inside the block (for tracing and ONNX export).

    A deploy form that runs channels-last on the CPU would otherwise put its
    layout changes (transposes) into an exported graph, where the runtime
    chooses layouts itself; the values are the same either way.
    """
    switched = [m for m in model.modules() if getattr(m, 'run_channels_last', False)]
    for m in switched:  # weights too: a channels-last weight makes a channels-last output
        m.run_channels_last = False
        m.to(memory_format=torch.contiguous_format)
    try:
        yield model
    finally:
        for m in switched:
            m.run_channels_last = True
            m.to(memory_format=torch.channels_last)
