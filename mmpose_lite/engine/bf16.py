"""bf16 mixed-precision training on the CPU: :class:`BF16OptimWrapper`.

MMEngine 0.10.7's ``AmpOptimWrapper`` refuses to start without CUDA (or an
NPU/MLU/MUSA device), so CPU training has no mixed precision through a config.
This wrapper is MMEngine's plain ``OptimWrapper`` with the model's forward and
loss run under ``torch.autocast`` in bfloat16 on the device the model is on::

    optim_wrapper = dict(type='BF16OptimWrapper', optimizer=dict(type='Adam', lr=5e-3))

Autocast runs convolutions and matrix products in bf16 and keeps softmax,
LayerNorm, reductions and the losses in fp32 (PyTorch's autocast op lists);
parameters, gradients and the optimizer state stay fp32. The model's
``head`` (MMPose's pose head: a small part of the work) runs in fp32 on its
inputs cast back to fp32: MMPose's heads compute their training accuracy in
NumPy, which has no bf16 (``to_numpy`` raises on a bf16 tensor), and the
heatmaps and their loss keep fp32 precision. bf16 has fp32's
exponent range, so unlike fp16 it needs no loss scaling. Whether it is faster
depends on the CPU's bf16 support and the layer shapes: measure it
(``tools/demo_study.py --variants current bf16``).
"""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from mmpose.registry import OPTIM_WRAPPERS
from torch import nn

__all__ = ['BF16OptimWrapper']


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose :meth:`optim_context` (the forward and loss of
    ``train_step``) runs under ``torch.autocast(device, dtype=torch.bfloat16)``,
    ``device`` being the model's (``'cpu'`` on a CPU machine), except the
    model's ``head``, which runs in fp32. Arguments are ``OptimWrapper``'s.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Linear(4, 2)
        >>> wrapper = BF16OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
        >>> with wrapper.optim_context(model):
        ...     out = model(torch.randn(3, 4))
        >>> out.dtype, model.weight.dtype
        (torch.bfloat16, torch.float32)
    """

    @contextmanager
    def optim_context(self, model: nn.Module):
        device = next((p.device.type for p in model.parameters()), 'cpu')
        head = getattr(getattr(model, 'module', model), 'head', None)  # through DDP's wrapper
        with super().optim_context(model), torch.autocast(device, dtype=torch.bfloat16):
            if isinstance(head, nn.Module):
                with _fp32_forward(head, device):
                    yield
            else:
                yield


@contextmanager
def _fp32_forward(module: nn.Module, device: str):
    """Within the block, ``module.forward`` runs with autocast off on inputs
    cast to fp32 (an instance attribute shadowing the method, removed after;
    a hook would not do: MMPose's heads call ``self.forward`` directly)."""
    method = module.forward

    def forward(*args, **kwargs):
        with torch.autocast(device, enabled=False):
            return method(*_to_fp32(args), **_to_fp32(kwargs))
    shadowed = module.__dict__.get('forward')
    module.forward = forward
    try:
        yield
    finally:
        if shadowed is None:
            del module.forward
        else:
            module.forward = shadowed


def _to_fp32(value):
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(_to_fp32(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_fp32(v) for k, v in value.items()}
    return value
