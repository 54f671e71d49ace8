"""What every preset backbone of the package shares: named presets with a
dict override, frozen stages, ``norm_eval`` and the deploy switch."""
import copy
from typing import Dict, Iterator, Optional, Union

import torch
from mmpose.models.backbones.base_backbone import BaseBackbone
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmpose_lite.deploy import DeployMixin


class PresetBackbone(DeployMixin, BaseBackbone):
    """Base class of the backbones built from :attr:`arch_zoo` presets.

    Subclasses set :attr:`arch_zoo` (preset name -> complete spec dict) and
    :attr:`default_arch`, may check a spec in :meth:`_validate`, and yield the
    modules that ``frozen_stages`` freezes from :meth:`_frozen_modules`. They
    set ``self.frozen_stages`` and ``self.norm_eval`` and call
    :meth:`_freeze_stages` at the end of ``__init__``.
    """
    arch_zoo: Dict[str, dict] = {}
    default_arch: str = ''
    #: The memory format the backbone runs in when its ``channels_last``
    #: argument is left as None (set where the benchmark measured
    #: channels-last faster on the CPU, in inference and in training:
    #: PyTorch's depthwise/1x1 convolutions, nearest upsampling and
    #: broadcasts are several times faster there for the small-channel
    #: feature maps of the HR skeleton).
    default_channels_last: bool = False

    def set_channels_last(self, channels_last: Optional[bool] = None) -> None:
        """Run in channels-last (``True``) or NCHW (``False``; ``None``: the
        class's :attr:`default_channels_last`): the weights are converted now,
        every input in :meth:`prepare_input`. Values are the same either way
        (up to float rounding); only the speed differs. Subclasses call it at
        the end of ``__init__``; initialisation and checkpoint loading copy
        into the weights in place, so the format is kept."""
        if channels_last is None:
            channels_last = self.default_channels_last
        if not isinstance(channels_last, bool):
            raise TypeError(f'{type(self).__name__}: channels_last must be a bool or None, got {channels_last!r}')
        self.run_channels_last = channels_last
        self.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)

    def post_deploy(self) -> None:
        """Called by :func:`~mmpose_lite.deploy.switch_to_deploy` after the
        exact rewrites (which make new, NCHW weights): put the weights back in
        the format this backbone runs in."""
        if getattr(self, 'run_channels_last', False):
            self.to(memory_format=torch.channels_last)

    def check_input_size(self, x: torch.Tensor, why: str) -> None:
        """Raise an error naming the size and ``self.size_divisor`` (and
        ``why``) when the input's H or W is not a multiple of it."""
        h, w = x.shape[-2:]
        if h % self.size_divisor or w % self.size_divisor:
            raise ValueError(f'{type(self).__name__}: input size {h}x{w} must be divisible by '
                             f'{self.size_divisor} ({why})')

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """The input in the memory format this backbone runs in (same values)."""
        if getattr(self, 'run_channels_last', False):
            return x.contiguous(memory_format=torch.channels_last)
        return x

    @classmethod
    def resolve_arch(cls, arch: Union[str, dict, None]) -> dict:
        """Turn ``arch`` into a complete, validated spec.

        ``arch`` is a preset name, or a dict: with a ``base`` key it overrides
        that preset's keys, without it it must give every key. The result is a
        deep copy: presets are never modified. Unknown names and keys raise
        errors that list the valid ones.
        """
        if arch is None:
            arch = cls.default_arch
        if isinstance(arch, str):
            if arch not in cls.arch_zoo:
                raise KeyError(f'{cls.__name__}: unknown arch {arch!r}; valid presets: {sorted(cls.arch_zoo)}')
            return copy.deepcopy(cls.arch_zoo[arch])
        if not isinstance(arch, dict):
            raise TypeError(f'{cls.__name__}: arch must be a preset name or a dict, got {type(arch).__name__}')
        arch = copy.deepcopy(arch)
        base = arch.pop('base', None)
        spec = cls.resolve_arch(base) if base is not None else {}
        required = set(next(iter(cls.arch_zoo.values())))
        unknown = set(arch) - required
        if unknown:
            raise KeyError(f'{cls.__name__}: unknown arch keys {sorted(unknown)}; valid keys: {sorted(required)}')
        spec.update(arch)
        missing = required - set(spec)
        if missing:
            raise KeyError(f'{cls.__name__}: arch dict misses {sorted(missing)}; give them or '
                           f'name a preset to start from with base=..., one of {sorted(cls.arch_zoo)}')
        cls._validate(spec)
        return spec

    @classmethod
    def _validate(cls, spec: dict) -> None:
        """Raise a clear error if ``spec`` is inconsistent (subclasses)."""

    def _frozen_modules(self) -> Iterator[nn.Module]:
        """The modules ``frozen_stages`` freezes (subclasses)."""
        return iter(())

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        """Set train mode, keeping frozen stages and (with ``norm_eval``) all
        BatchNorms in eval mode. Returns ``self``."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
