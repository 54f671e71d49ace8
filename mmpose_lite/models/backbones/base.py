"""What every preset backbone of the package shares: named presets with a
dict override, frozen stages, ``norm_eval`` and the deploy switch."""
import copy
from typing import Dict, Iterator, Optional, Union

import torch
from mmpose.models.backbones.base_backbone import BaseBackbone
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmpose_lite.deploy import DeployMixin
from ..strict_load import StrictLoadMixin


class InputShapeError(ValueError):
    """An input a backbone cannot take; the message names the expected and
    the given shape and what to do."""


def check_image_batch(name: str, x: torch.Tensor, in_channels: Optional[int], size_divisor: int, why: str) -> None:
    """Raise :class:`InputShapeError` unless ``x`` is an ``(N, C, H, W)``
    batch with ``C == in_channels`` (unless None) and H, W multiples of
    ``size_divisor``. ``name`` (the backbone) and ``why`` (why the divisor)
    go into the message."""
    shape = tuple(x.shape)
    if x.dim() != 4:
        raise InputShapeError(f'{name}: expected a batch of images (N, C, H, W), got a {x.dim()}-D tensor of shape '
                              f'{shape}; for a single image add the batch axis (x[None]).')
    c, h, w = shape[1:]
    if in_channels is not None and c != in_channels:
        raise InputShapeError(
            f'{name}: the input has {c} channels (shape {shape}), but the backbone was built for '
            f'in_channels={in_channels}. Give it {in_channels}-channel images (a grayscale file: load it in color, '
            f"LoadImage(color_type='color'); RGBA: drop the alpha channel), or build the backbone with "
            f'in_channels={c} (and give the data_preprocessor {c} mean/std values).')
    if h % size_divisor or w % size_divisor:
        up_h, up_w = (-(-v // size_divisor) * size_divisor for v in (h, w))
        raise InputShapeError(
            f'{name}: input size {h}x{w} must be divisible by {size_divisor} ({why}); got input shape {shape}. '
            f'Resize or pad the images to multiples of {size_divisor}, e.g. {up_h}x{up_w} (H x W; in a config, '
            f'codec input_size=({up_w}, {up_h}), which is (W, H)).')


class PresetBackbone(StrictLoadMixin, DeployMixin, BaseBackbone):
    """Base class of the backbones built from :attr:`arch_zoo` presets.

    Subclasses set :attr:`arch_zoo` (preset name -> complete spec dict) and
    :attr:`default_arch`, may check a spec in :meth:`_validate`, say how many
    stages a spec has (:meth:`_num_stages`), and yield the modules that
    ``frozen_stages`` freezes from :meth:`_frozen_modules`. Their
    ``__init__`` starts with :meth:`_init_preset` (arch, ``norm_eval``,
    ``frozen_stages``, ``with_cp``) and ends with :meth:`_freeze_stages`.
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

    @property
    def expected_in_channels(self) -> Optional[int]:
        """The number of input channels the backbone was built for: that of
        its first convolution (None if it has none)."""
        conv = next((m for m in self.modules() if isinstance(m, nn.Conv2d)), None)
        return None if conv is None else conv.in_channels

    def check_input_size(self, x: torch.Tensor, why: str) -> None:
        """Raise :class:`InputShapeError` unless ``x`` is an image batch this
        backbone takes: ``(N, C, H, W)`` with C its input channels and H, W
        multiples of ``self.size_divisor`` (``why`` says why)."""
        check_image_batch(type(self).__name__, x, self.expected_in_channels, self.size_divisor, why)

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

    @classmethod
    def _num_stages(cls, spec: dict) -> int:
        """The number of stages of ``spec`` that ``frozen_stages`` counts
        (subclasses; default: the class's ``num_stages``)."""
        return cls.num_stages

    def _init_preset(self, arch: Union[str, dict, None], norm_eval: bool, frozen_stages: int,
                     with_cp: bool) -> dict:
        """What every preset backbone's ``__init__`` does first (after
        ``super().__init__``): resolve ``arch`` into ``self.arch`` (see
        :meth:`resolve_arch`), keep ``norm_eval`` and ``with_cp``, and check
        and keep ``frozen_stages`` (an int in ``[-1, num_stages]``). Returns
        the spec."""
        spec = self.resolve_arch(arch)
        n = self._num_stages(spec)
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= n:
            raise ValueError(f'{type(self).__name__}: frozen_stages must be an int in [-1, {n}], '
                             f'got {frozen_stages!r}')
        self.arch = spec
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.frozen_stages = frozen_stages
        return spec

    def _set_out_indices(self, out_indices, n: int, what: str) -> None:
        """Check and keep ``self.out_indices``: a non-empty sequence of ints
        in ``[0, n)``, the indices of ``what`` (named in the error)."""
        out_indices = tuple(out_indices)
        if not out_indices or any(not isinstance(i, int) or not 0 <= i < n for i in out_indices):
            raise ValueError(f'{type(self).__name__}: out_indices must be non-empty {what} indices in [0, {n}), '
                             f'got {out_indices}')
        self.out_indices = out_indices

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
