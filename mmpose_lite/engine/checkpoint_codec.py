"""Plain-data encoding of the values MMEngine's Runner puts into checkpoints.

:func:`encode_checkpoint` rewrites, in place, the values torch's weights-only
unpickler refuses (numpy arrays and scalars, the message hub's
``HistoryBuffer`` objects) as plain Python data, and records under the
top-level key :data:`ENCODED_KEY` what it changed (key paths, kinds, dtypes,
shapes); :func:`decode_checkpoint` restores the exact original objects. Used by
:class:`~mmpose_lite.engine.SafeCheckpointHook` and
:func:`~mmpose_lite.engine.safe_checkpoint.upgrade_checkpoint`.
"""
from collections import Counter, OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ['ENCODED_KEY', 'encode_checkpoint', 'decode_checkpoint']

#: Top-level checkpoint key under which :func:`encode_checkpoint` records
#: what it changed (plain data: key paths, kinds, dtypes, shapes).
ENCODED_KEY = 'mmpose_lite_safe_checkpoint'
FORMAT_VERSION = 1


_ATOMS = (type(None), bool, int, float, complex, str, bytes, bytearray, torch.dtype, torch.device, torch.Size)
_TENSORS = (torch.Tensor, torch.nn.Parameter)
#: dtype kinds whose values survive ``tolist()`` and back exactly.
_ARRAY_KINDS = 'biufcUS'


def _plain_dtype(dtype: np.dtype) -> bool:
    return (dtype.kind in _ARRAY_KINDS and dtype.fields is None and dtype.subdtype is None
            and not (dtype.kind in 'fc' and dtype.itemsize > (8 if dtype.kind == 'f' else 16)))


def _plain_hashable(value) -> bool:
    return type(value) in _ATOMS or (type(value) is tuple and all(_plain_hashable(v) for v in value))


def _show(path: tuple) -> str:
    return ''.join(f'[{k!r}]' for k in path) or '<checkpoint>'


class _Encoder:
    """Copy-on-write rewrite of a checkpoint's values into plain data."""

    def __init__(self):
        self.entries: List[dict] = []
        self.left: List[str] = []
        self._memo: Dict[int, Tuple[Any, Optional[list]]] = {}  # id(original) -> (result, path if leaf)
        self._alive: list = []  # keeps the originals' ids unique while encoding

    def encode(self, obj, path: tuple):
        kind = type(obj)
        if kind in _ATOMS or kind in _TENSORS:
            return obj
        key = id(obj)
        if key in self._memo:
            result, leaf_path = self._memo[key]
            if leaf_path is not None:  # the same object again: restored as the same object
                self.entries.append(dict(path=list(path), kind='alias', of=leaf_path))
            return result
        self._alive.append(obj)
        result, entry = self._convert(obj, path)
        if entry is not None:
            entry['path'] = list(path)
            self.entries.append(entry)
        self._memo[key] = (result, list(path) if entry is not None else None)
        return result

    def _convert(self, obj, path):
        """``(new value, entry or None)``."""
        if isinstance(obj, dict) and type(obj) in (dict, OrderedDict, Counter):
            odd = [k for k in obj if not _plain_hashable(k)]
            if odd:  # keys are kept as they are: say so
                self.left.append(f'{_show(path)} (keys of type {type(odd[0]).__module__}.'
                                 f'{type(odd[0]).__qualname__}, e.g. {odd[0]!r})')
            new = {k: self.encode(v, path + (k, )) for k, v in obj.items()}
            if all(new[k] is obj[k] for k in obj):
                return obj, None
            return (new if type(obj) is dict else type(obj)(new)), None
        if type(obj) in (list, tuple):
            new = [self.encode(v, path + (i, )) for i, v in enumerate(obj)]
            if all(a is b for a, b in zip(new, obj)):
                return obj, None
            return (new if type(obj) is list else tuple(new)), None
        if type(obj) in (set, frozenset) and all(_plain_hashable(v) for v in obj):
            return (obj, None) if type(obj) is set else (list(obj), dict(kind='frozenset'))
        if type(obj) is np.ndarray and _plain_dtype(obj.dtype):
            order = 'F' if obj.flags.f_contiguous and not obj.flags.c_contiguous else 'C'
            return obj.tolist(), dict(kind='ndarray', dtype=obj.dtype.str, shape=list(obj.shape), order=order)
        if isinstance(obj, np.generic) and _plain_dtype(obj.dtype):
            return obj.item(), dict(kind='numpy_scalar', dtype=obj.dtype.str)
        if type(obj) is HistoryBuffer:
            # its pickled state also holds the class-wide table of statistics
            # functions (``__getstate__``); the functions are stored by name
            state = {k: v for k, v in vars(obj).items() if k != 'statistics_methods'}
            return self.encode(state, path), dict(kind='HistoryBuffer',
                                                  statistics=list(HistoryBuffer._statistics_methods))
        self.left.append(f'{_show(path)} ({type(obj).__module__}.{type(obj).__qualname__})')
        return obj, None


def encode_checkpoint(checkpoint: dict) -> List[str]:
    """Store, in place, every value of ``checkpoint`` that
    ``torch.load(weights_only=True)`` would refuse as plain data, recording
    what changed under :data:`ENCODED_KEY` (for :func:`decode_checkpoint`).

    numpy arrays become (nested) lists, numpy scalars Python scalars, and
    MMEngine ``HistoryBuffer`` objects dicts of their state; their dtypes,
    shapes, memory order and shared identities are recorded, so decoding
    gives objects that pickle to the same bytes. The checkpoint dict itself
    is updated in place; nested containers that hold changed values are
    replaced by new ones (objects the checkpoint shares with the running
    program, such as the message hub's, are never modified).

    Args:
        checkpoint (dict): A checkpoint as MMEngine's Runner builds it.

    Returns:
        list[str]: The key paths (and types) of values left as they were
        because there is no plain form for them: a file holding them still
        needs trusted loading. Empty when the checkpoint is weights-only safe.

    Raises:
        TypeError: ``checkpoint`` is not a dict.
        ValueError: ``checkpoint`` already holds :data:`ENCODED_KEY`.
    """
    if not isinstance(checkpoint, dict):
        raise TypeError(f'encode_checkpoint: a checkpoint is a dict, got {type(checkpoint).__name__}')
    if ENCODED_KEY in checkpoint:
        raise ValueError(f'encode_checkpoint: the checkpoint is already encoded (it has the key {ENCODED_KEY!r}); '
                         'decode_checkpoint() it first')
    encoder = _Encoder()
    encoder._alive.append(checkpoint)
    for key in list(checkpoint):
        new = encoder.encode(checkpoint[key], (key, ))
        if new is not checkpoint[key]:
            checkpoint[key] = new
    if encoder.entries:
        checkpoint[ENCODED_KEY] = dict(version=FORMAT_VERSION, entries=encoder.entries)
    return encoder.left


# ------------------------------------------------------------- decoding
class _Decoder:

    def __init__(self, entries):
        if not isinstance(entries, list):
            raise ValueError(f'the checkpoint\'s {ENCODED_KEY!r} record is malformed (entries are not a list); '
                             'was the file modified?')
        self.entries = {}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get('path'), list):
                raise ValueError(f'the checkpoint\'s {ENCODED_KEY!r} record has a malformed entry {entry!r}; '
                                 'was the file modified?')
            self.entries[tuple(entry['path'])] = entry
        self.done = {}  # path -> decoded value (targets of aliases)
        self._memo: Dict[int, Any] = {}
        self._alive: list = []

    def fail(self, path, why):
        raise ValueError(f'cannot restore {_show(path)} of the checkpoint from its {ENCODED_KEY!r} record: {why}; '
                         'was the file modified, or written by a newer mmpose_lite?')

    def decode(self, obj, path: tuple):
        entry = self.entries.get(path)
        if entry is not None and entry.get('kind') == 'alias':
            target = tuple(entry.get('of') or ())
            if target not in self.done:
                self.fail(path, f'it refers to {_show(target)}, which was not restored before it')
            self.done[path] = self.done[target]
            return self.done[path]
        kind = type(obj)
        if kind in (dict, OrderedDict, Counter, list, tuple):
            if id(obj) in self._memo:
                return self._memo[id(obj)]
            self._alive.append(obj)
            if isinstance(obj, dict):
                new = {k: self.decode(v, path + (k, )) for k, v in obj.items()}
                changed = any(new[k] is not obj[k] for k in obj)
                result = (new if kind is dict else kind(new)) if changed else obj
            else:
                new = [self.decode(v, path + (i, )) for i, v in enumerate(obj)]
                changed = any(a is not b for a, b in zip(new, obj))
                result = (new if kind is list else tuple(new)) if changed else obj
        else:
            result = obj
        if entry is not None:
            result = self._restore(result, entry, path)
            self.done[path] = result
        if kind in (dict, OrderedDict, Counter, list, tuple):
            self._memo[id(obj)] = result
        return result

    def _restore(self, value, entry, path):
        kind = entry.get('kind')
        if kind in ('ndarray', 'numpy_scalar'):
            try:
                dtype = np.dtype(entry['dtype'])
            except (KeyError, TypeError) as e:
                self.fail(path, f'bad dtype ({e})')
            if not _plain_dtype(dtype):
                self.fail(path, f'dtype {dtype} is not one it writes')
            if kind == 'numpy_scalar':
                if type(value) not in (bool, int, float, complex, str, bytes):
                    self.fail(path, f'a numpy scalar is stored as a Python scalar, not a {type(value).__name__}')
                return dtype.type(value)
            shape = entry.get('shape')
            if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
                self.fail(path, f'bad shape {shape!r}')
            try:
                array = np.array(value, dtype=dtype).reshape(shape)
            except (TypeError, ValueError) as e:
                self.fail(path, f'the values do not make a {dtype} array of shape {tuple(shape)} ({e})')
            return np.asfortranarray(array) if entry.get('order') == 'F' else array
        if kind == 'frozenset':
            if not isinstance(value, list):
                self.fail(path, 'a frozenset is stored as a list')
            return frozenset(value)
        if kind == 'HistoryBuffer':
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                self.fail(path, 'a HistoryBuffer is stored as a dict of its attributes')
            # as its ``__setstate__`` does, minus merging the saved table of
            # statistics functions into the class-wide one (the file names
            # them; functions are never rebuilt from a file)
            obj = HistoryBuffer.__new__(HistoryBuffer)
            obj._set_default_statistics()
            obj.__dict__.update(value)
            return obj
        self.fail(path, f'unknown kind {kind!r}')


def decode_checkpoint(checkpoint: dict) -> dict:
    """Undo :func:`encode_checkpoint` in place: restore the exact original
    objects (numpy arrays and scalars with their dtypes, ``HistoryBuffer``
    objects, shared identities) and remove :data:`ENCODED_KEY`. A checkpoint
    without that key (MMPose model zoo, plain state dicts) is left as it is.

    Args:
        checkpoint (dict): A loaded checkpoint.

    Returns:
        dict: ``checkpoint`` itself.

    Raises:
        ValueError: The record is malformed or of a newer format.
    """
    if not isinstance(checkpoint, dict) or ENCODED_KEY not in checkpoint:
        return checkpoint
    record = checkpoint[ENCODED_KEY]
    if not isinstance(record, dict) or record.get('version') != FORMAT_VERSION:
        version = record.get('version') if isinstance(record, dict) else None
        raise ValueError(f'the checkpoint\'s {ENCODED_KEY!r} record has format version {version!r}; this '
                         f'mmpose_lite reads version {FORMAT_VERSION} (was it written by a newer mmpose_lite?)')
    decoder = _Decoder(record.get('entries'))
    decoder._alive.append(checkpoint)
    for key in [k for k in checkpoint if k != ENCODED_KEY]:
        new = decoder.decode(checkpoint[key], (key, ))
        if new is not checkpoint[key]:
            checkpoint[key] = new
    missed = [_show(p) for p in decoder.entries if p not in decoder.done]
    if missed:
        decoder.fail(tuple(next(iter(p for p in decoder.entries if p not in decoder.done))),
                     f'{len(missed)} recorded value(s) were not found ({", ".join(missed[:3])})')
    del checkpoint[ENCODED_KEY]
    return checkpoint
