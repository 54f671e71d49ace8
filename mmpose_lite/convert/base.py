"""The converter framework: reference checkpoints (the papers' own code) into
MMPose 1.x checkpoints of our configs.

A converter is a function registered under a source name::

    @register_converter('xhrnet-authors', help='MMPose 0.x X-HRNet (cool-xuan/x-hrnet)')
    def convert_xhrnet(state_dict, **options):
        return new_state_dict   # keys of the MMPose 1.x model: 'backbone.*', 'head.*'

:func:`convert_checkpoint` reads the source file (safely: weights only, unless
``trusted``), runs the converter on its state dict, checks the result against
the model a config builds (every key covered, every shape equal: the error
names the keys) and writes ``{'state_dict': ..., 'meta': ...}`` atomically, so
that ``mim test``, ``init_model`` and ``load_from`` load it strictly.
"""
import os.path as osp
from typing import Callable, Dict, Mapping, NamedTuple, Optional

import torch

from ..utils.files import atomic_output

__all__ = ['Converter', 'CONVERTERS', 'register_converter', 'get_converter', 'read_state_dict',
           'convert_state_dict', 'convert_checkpoint', 'ConversionError']


class ConversionError(ValueError):
    """A source checkpoint cannot be converted (wrong source, missing keys)."""


class Converter(NamedTuple):
    name: str
    fn: Callable[..., Dict[str, torch.Tensor]]
    help: str


#: source name -> Converter
CONVERTERS: Dict[str, Converter] = {}


def register_converter(name: str, help: str = '') -> Callable:
    """Register ``fn(state_dict, **options) -> state_dict`` under ``name``."""
    def wrap(fn):
        if name in CONVERTERS and CONVERTERS[name].fn is not fn:
            raise KeyError(f'a converter named {name!r} is already registered ({CONVERTERS[name].fn.__module__})')
        CONVERTERS[name] = Converter(name, fn, help or (fn.__doc__ or '').strip().split('\n')[0])
        return fn
    return wrap


def get_converter(name: str) -> Converter:
    """The converter registered as ``name``; the error lists the valid names."""
    from . import sources  # noqa: F401  (registers the built-in converters)
    if name not in CONVERTERS:
        raise ConversionError(f'no converter for {name!r}; valid sources: {", ".join(sorted(CONVERTERS))}')
    return CONVERTERS[name]


def read_state_dict(filename: str, trusted: bool = False) -> Dict[str, torch.Tensor]:
    """The tensors of a checkpoint file (``state_dict``/``model`` entry or
    the file itself when it is a plain dict of tensors), ``module.``
    prefixes of DataParallel removed.

    Unpickled with ``weights_only=True`` unless ``trusted`` (a crafted
    pickle runs code when it is loaded)."""
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist; pass the path of the file to convert')
    try:
        ckpt = torch.load(filename, map_location='cpu', weights_only=not trusted)
    except Exception as e:  # torch raises UnpicklingError / RuntimeError by version
        # the weights-only unpickler names the object type it refused ("Unsupported global: GLOBAL ...")
        if not trusted and 'unsupported global' in str(e).lower():
            raise ConversionError(
                f'{filename} holds more than tensors and plain data, which is not unpickled by default (a crafted '
                f'file can run code when loaded). If you trust its source, pass --trust (trusted=True). ({e})') from e
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        why = next((line for line in lines if 'unsupported' in line.lower()), lines[0] if lines else repr(e))
        raise ConversionError(f'cannot read {filename} as a PyTorch checkpoint (torch.load: {why}); pass the '
                              'checkpoint file (.pth) the reference code saved') from e
    if isinstance(ckpt, Mapping):
        for key in ('state_dict', 'model', 'net', 'model_state'):
            if isinstance(ckpt.get(key), Mapping):
                ckpt = ckpt[key]
                break
    if not isinstance(ckpt, Mapping) or not any(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise ConversionError(f'{filename} holds no state dict of tensors (found {type(ckpt).__name__})')
    return {(k[len('module.'):] if k.startswith('module.') else k): v
            for k, v in ckpt.items() if isinstance(v, torch.Tensor)}


def convert_state_dict(name: str, state_dict: Mapping[str, torch.Tensor], **options) -> Dict[str, torch.Tensor]:
    """Run the converter ``name`` on a state dict."""
    return get_converter(name).fn(dict(state_dict), **options)


def convert_checkpoint(name: str, src: str, dst: str, config: Optional[str] = None, trusted: bool = False,
                       **options) -> str:
    """Convert the checkpoint file ``src`` with the converter ``name`` and
    write it to ``dst``.

    Args:
        name (str): Source name (see ``CONVERTERS``).
        src (str): The reference checkpoint.
        dst (str): Where to write the MMPose 1.x checkpoint (written
            atomically: a partial file never appears at ``dst``).
        config (str, optional): A config (path or ``mmpose_lite::`` name) of
            the model the weights are for. When given, the converted
            weights are checked to cover that model exactly, and
            :class:`~mmpose_lite.utils.checkpoint.CheckpointMismatchError`
            names the keys otherwise; nothing is written then.
        trusted (bool): Unpickle ``src`` fully (only for files you trust).
        **options: Passed to the converter.

    Returns:
        str: ``dst``.
    """
    converted = convert_state_dict(name, read_state_dict(src, trusted=trusted), **options)
    if config is not None:
        check_against_config(converted, config, source=f'{src} converted with {name!r}')
    meta = dict(converted_from=osp.abspath(src), converter=name)
    with atomic_output(dst) as tmp:
        torch.save({'state_dict': converted, 'meta': meta}, tmp)
    return dst


def check_against_config(state_dict: Mapping[str, torch.Tensor], config: str, source: str = 'converted weights'):
    """Raise CheckpointMismatchError unless ``state_dict`` fits the model of ``config`` exactly."""
    from mmengine.config import Config
    from mmpose.registry import MODELS

    import mmpose_lite  # noqa: F401
    from ..utils.checkpoint import CheckpointMismatchError, describe_mismatch, find_mismatch
    from ..utils.paths import config_path
    cfg = Config.fromfile(config if osp.isfile(config) else config_path(config))
    model = MODELS.build(cfg.model)
    if find_mismatch(model, state_dict):
        raise CheckpointMismatchError(describe_mismatch(model, state_dict, source=source))
