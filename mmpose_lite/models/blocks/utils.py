"""Small helpers shared by the blocks."""
from typing import Callable

import torch
import torch.utils.checkpoint as cp


def requires_grad(x) -> bool:
    """Whether ``x`` (a tensor or a list/tuple of tensors) requires grad."""
    if isinstance(x, (list, tuple)):
        return any(t.requires_grad for t in x)
    return x.requires_grad


def checkpointed(fn: Callable, x, with_cp: bool):
    """Run ``fn(x)``, through activation checkpointing when ``with_cp`` is set
    and a gradient is needed. ``x`` may be a tensor or a list of tensors (the
    case MMPose's ``ConditionalChannelWeighting`` gets wrong: it calls
    ``x.requires_grad`` on a list)."""
    if not (with_cp and torch.is_grad_enabled() and requires_grad(x)):
        return fn(x)
    if isinstance(x, (list, tuple)):
        return list(cp.checkpoint(lambda *xs: tuple(fn(list(xs))), *x, use_reentrant=False))
    return cp.checkpoint(fn, x, use_reentrant=False)
