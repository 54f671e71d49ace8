"""Exact inference-time rewrites ("deploy mode") and their one convention.

:func:`switch_to_deploy` turns an eval-mode model into an inference-only
model with the same outputs (to float rounding):

* every module that rewrites itself does so through its own
  ``switch_to_deploy(test_cfg)`` (MMPose's method name and signature). The
  package's modules get it from :class:`Deployable`, which keeps the one
  deploy state, ``deployed``, and makes the rewrite run once: a unit or block
  brings its own fusion (Slide attention merges its fixed and learnable
  shifts, SUSA keeps its stripe weights per length, the token-mixer block
  folds its pre-norms);
* modules that define ``post_deploy()`` run it last (a backbone whose
  deploy form runs channels-last converts itself there);
* BatchNorm is folded (:func:`fold_bn`, the one folding function) into the
  convolution it follows, wherever that adjacency is known for certain:
  MMCV's ``ConvModule`` (order ``conv -> norm``), ``nn.Sequential``
  containers holding ``Conv2d`` then a BatchNorm, and MMPose's ResNet
  ``BasicBlock``/``Bottleneck`` (``conv_i -> norm_i``). Further module types
  that are not ours register a rewrite with :func:`register_rewrite`.

Folding uses the running statistics, so the deployed model is for inference
only; :func:`switch_to_deploy` puts it in eval mode and sets ``deployed`` on
every module.
"""
import contextlib
from typing import Callable, Dict, Type

import torch
from mmcv.cnn import ConvModule
from mmpose.models.backbones.resnet import BasicBlock, Bottleneck
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = [
    'switch_to_deploy', 'Deployable', 'fold_bn', 'can_fold_bn', 'register_rewrite', 'REWRITES', 'DeployMixin',
    'traced_layout'
]

#: Rewrites per module type, applied to every instance (subclasses included).
REWRITES: Dict[Type[nn.Module], Callable[[nn.Module], None]] = {}


def register_rewrite(module_type: Type[nn.Module]):
    """Decorator registering an in-place deploy rewrite for ``module_type``
    (for module types that are not ours; ours subclass :class:`Deployable`)."""

    def wrap(fn):
        REWRITES[module_type] = fn
        return fn

    return wrap


class Deployable:
    """The deploy convention of the package's modules (a mixin: no
    ``__init__``, no parameters).

    A module with an exact inference-only rewrite of itself subclasses it and
    implements :meth:`_deploy`. :meth:`switch_to_deploy` runs that once (under
    ``torch.no_grad``) and sets :attr:`deployed`, the one name of the deploy
    state, which the module's forward may read and which
    :func:`switch_to_deploy` also sets on every module it visits.

    Attributes:
        deployed (bool): False until the module is switched to its deploy form.
    """
    deployed: bool = False

    def switch_to_deploy(self, test_cfg=None) -> None:
        """Rewrite this module into its deploy form; idempotent. ``test_cfg``
        is accepted (and unused) for MMPose's ``switch_to_deploy(test_cfg)``."""
        if self.deployed:
            return
        with torch.no_grad():
            self._deploy()
        self.deployed = True

    def _deploy(self) -> None:
        """The rewrite itself (subclasses)."""
        raise NotImplementedError


def _fold_problem(conv, bn, bn_first: bool):
    """Why ``bn`` cannot be folded into ``conv`` exactly, as ``(error type,
    message)``, or None."""
    if not isinstance(conv, nn.Conv2d) or not isinstance(bn, _BatchNorm):
        return TypeError, f'it needs a Conv2d and a BatchNorm, got {type(conv).__name__} and {type(bn).__name__}'
    if bn.running_var is None:
        return ValueError, 'the BatchNorm tracks no running statistics (track_running_stats=False)'
    if bn_first:
        # conv(bn(x)): padding would pad bn(x) with zeros, which no bias of conv' reproduces
        if type(conv) is not nn.Conv2d or any(conv.padding) or conv.groups != 1:
            return ValueError, ('a BatchNorm before a convolution folds only into a plain Conv2d without '
                                f'padding or groups, got {conv}')
        if conv.in_channels != bn.num_features:
            return ValueError, f'conv has {conv.in_channels} input channels, BatchNorm {bn.num_features}'
    elif conv.out_channels != bn.num_features:
        return ValueError, f'conv has {conv.out_channels} output channels, BatchNorm {bn.num_features}'
    return None


def can_fold_bn(conv, bn, bn_first: bool = False) -> bool:
    """Whether :func:`fold_bn` folds ``bn`` into ``conv`` exactly."""
    return _fold_problem(conv, bn, bn_first) is None


@torch.no_grad()
def fold_bn(conv: nn.Conv2d, bn: _BatchNorm, bn_first: bool = False) -> None:
    """Fold ``bn`` (its eval statistics) into ``conv``, in place.

    With ``bn(x) = s * x + t`` per channel (``s = gamma / sqrt(var + eps)``,
    ``t = beta - mean * s``), computed in float64:

    * ``bn_first=False``, the BatchNorm after the convolution:
      ``bn(conv(x)) == conv'(x)`` with ``w' = w * s`` per output channel and
      ``b' = b * s + t``;
    * ``bn_first=True``, the BatchNorm before it (a pre-norm):
      ``conv(bn(x)) == conv'(x)`` with ``w' = w * s`` per input channel and
      ``b' = b + sum(w * t)``; exact for a convolution without padding.

    Raises:
        TypeError: If ``conv`` is not a ``Conv2d`` or ``bn`` not a BatchNorm.
        ValueError: If the pair does not fold exactly (no running
            statistics, channels that differ, a padded or grouped
            convolution after the BatchNorm); :func:`can_fold_bn` tells
            beforehand.
    """
    problem = _fold_problem(conv, bn, bn_first)
    if problem is not None:
        error, message = problem
        raise error(f'fold_bn: {message}')
    s = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.affine:
        s = s * bn.weight.double()
    t = -bn.running_mean.double() * s
    if bn.affine:
        t = t + bn.bias.double()
    w = conv.weight.double()
    b = conv.bias.double() if conv.bias is not None else w.new_zeros(conv.out_channels)
    if bn_first:
        bias = b + (w * t.view(1, -1, 1, 1)).sum(dim=(1, 2, 3))
        weight = w * s.view(1, -1, 1, 1)
    else:
        bias = b * s + t
        weight = w * s.view(-1, 1, 1, 1)
    conv.weight.copy_(weight.to(conv.weight.dtype))
    conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)


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
