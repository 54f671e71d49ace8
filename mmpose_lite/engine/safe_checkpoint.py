"""Checkpoints that load with ``torch.load(weights_only=True)``.

torch's weights-only unpickler (the default of ``torch.load`` since torch
2.6, and what MMEngine's loaders get) rebuilds tensors and plain Python data
only, so a crafted file cannot run code while it is loaded. MMEngine's Runner
also stores numpy arrays and scalars (the dataset's meta information, metric
values) and its message hub's ``HistoryBuffer`` objects, which that
unpickler refuses: without help, ``--resume``, ``mim test --checkpoint`` and
``init_model`` fail on the checkpoints the same Runner just wrote.

:class:`SafeCheckpointHook` (enabled by our configs through
:class:`~mmpose_lite.engine.LiteRunner`) stores those values as plain data
before a checkpoint is saved (:func:`encode_checkpoint`) and records, under
the top-level key :data:`ENCODED_KEY`, what it changed, so that the Runner
gets the exact original objects back when it loads the checkpoint
(:func:`decode_checkpoint`). Loaders that do not run the hook (MMPose's
``init_model``, the inferencer) see plain lists: ``meta['dataset_meta']``
works as it is. Nothing is allow-listed, nothing global is changed.

A file that the weights-only unpickler refuses is reported by
:func:`explain_unsafe` as an :class:`UnsafeCheckpointError` that names the
file, says why, and says how to load a file one trusts:
:func:`upgrade_checkpoint` (``tools/upgrade_checkpoint.py --trust OLD NEW``)
writes a weights-only-safe copy with the same encoder.
"""
import os
import os.path as osp
import pickle
import re
import tempfile
from collections import Counter, OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmpose.registry import HOOKS

__all__ = ['ENCODED_KEY', 'UnsafeCheckpointError', 'explain_unsafe', 'encode_checkpoint', 'decode_checkpoint',
           'upgrade_checkpoint', 'SafeCheckpointHook']

#: Top-level checkpoint key under which :func:`encode_checkpoint` records
#: what it changed (plain data: key paths, kinds, dtypes, shapes).
ENCODED_KEY = 'mmpose_lite_safe_checkpoint'
FORMAT_VERSION = 1

UPGRADE_COMMAND = 'python tools/upgrade_checkpoint.py --trust'


# ---------------------------------------------------------------- refusals
class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds pickled objects other than tensors and plain data,
    so it was not unpickled (it could run code).

    Attributes:
        filename (str): The refused file.
        globals (list[str]): The Python objects the file's pickle refers to
            that the weights-only unpickler does not rebuild (as far as they
            could be listed without unpickling).
    """

    def __init__(self, message: str, filename: str = '', globals_: Optional[List[str]] = None):
        super().__init__(message)
        self.filename = filename
        self.globals = list(globals_ or [])


#: Globals that MMEngine's Runner puts into checkpoints written without
#: :class:`SafeCheckpointHook` (numpy data, the message hub's buffers and the
#: statistics functions they pickle through ``getattr``). Only used to word
#: the message: a file made of these can still be crafted.
_RUNNER_GLOBALS = re.compile(r'^((numpy|mmengine\.logging)\..*|builtins\.getattr)$')
_REFUSAL = 'Weights only load failed'


def _globals_of(filename: str, message: str) -> List[str]:
    """The refused globals of ``filename``, read from its pickle without
    unpickling it (torch's scanner), else from torch's message."""
    try:
        from torch.serialization import get_unsafe_globals_in_checkpoint
        found = sorted(get_unsafe_globals_in_checkpoint(filename))
    except Exception:  # noqa: BLE001 - only a better message is lost
        found = []
    return found or sorted(set(re.findall(r'GLOBAL (\S+) was not an allowed global', message)))


def _looks_like_checkpoint(filename: str) -> bool:
    """Whether ``filename`` is a zip archive (``torch.save``'s format) or a
    pickle (its legacy format), as opposed to some other file."""
    import zipfile
    try:
        with open(filename, 'rb') as f:
            head = f.read(2)
        return zipfile.is_zipfile(filename) or head[:1] == b'\x80'
    except OSError:
        return False


def explain_unsafe(filename: str, exc: BaseException) -> pickle.UnpicklingError:
    """The error to raise (``raise explain_unsafe(f, e) from e``) when
    loading the checkpoint ``filename`` raised ``exc``.

    Args:
        filename (str): The checkpoint file being loaded.
        exc (BaseException): What ``torch.load`` (or a loader calling it)
            raised, typically a ``pickle.UnpicklingError``.

    Returns:
        pickle.UnpicklingError: ``exc`` itself if it already is an
        :class:`UnsafeCheckpointError`; an :class:`UnsafeCheckpointError`
        naming the file, the refused objects, why, and how to load a file one
        trusts when ``exc`` is torch's weights-only refusal; otherwise a
        ``pickle.UnpicklingError`` naming the file and saying it is not a
        readable (complete) checkpoint.
    """
    if isinstance(exc, UnsafeCheckpointError):
        return exc
    text = str(exc)
    found = _globals_of(filename, text) if _REFUSAL in text else []
    if _REFUSAL not in text or (not found and not _looks_like_checkpoint(filename)):
        detail = re.search(r'WeightsUnpickler error:\s*(\S[^\n]*)', text)
        detail = detail.group(1) if detail else (text.strip().splitlines() or [type(exc).__name__])[0]
        what = ('is not a readable PyTorch checkpoint' if _looks_like_checkpoint(filename) else
                'is not a PyTorch checkpoint (neither the zip archive torch.save writes nor a pickle)')
        return pickle.UnpicklingError(f'checkpoint {filename} {what} ({detail}); is it the right file, and complete '
                                      '(not cut short by an interrupted copy or save)?')
    listed = ', '.join(found[:6]) + (f' and {len(found) - 6} more' if len(found) > 6 else '')
    lines = [f'refused to load checkpoint {filename}: it holds pickled objects other than tensors and plain data'
             + (f' ({listed})' if listed else '') + '. Unpickling such objects can run arbitrary code, so '
             "torch.load's weights-only unpickler (torch's default, used by MMEngine and MMPose) does not "
             'rebuild them.']
    if found and all(_RUNNER_GLOBALS.match(g) for g in found):
        lines.append('These are the kinds of objects MMEngine\'s Runner stores when SafeCheckpointHook is not enabled '
                     '(checkpoints of earlier mmpose_lite versions or of plain MMPose configs); a file made of them is '
                     'still only as safe as its source.')
    elif found:
        odd = [g for g in found if not _RUNNER_GLOBALS.match(g)]
        lines.append(f'{", ".join(odd[:6])} {"is" if len(odd) == 1 else "are"} not what a checkpoint needs: do '
                     'not load this file unless you know where it comes from.')
    lines += ['If you trust this file (you, or a source you trust, wrote it), load it in one of these ways:',
              f'  - {UPGRADE_COMMAND} {filename} NEW.pth   writes a copy that loads safely everywhere '
              '(recommended; once)',
              f'  - mmpose_lite.utils.load_weights(model, {filename!r}, trusted=True)   in Python, for this call',
              '  - TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 in the environment (mim test/train, init_model, the '
              "inferencer): torch's own switch; it applies to EVERY file that process loads, not just this one."]
    return UnsafeCheckpointError('\n'.join(lines), filename, found)


# ------------------------------------------------------------- encoding
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


# ---------------------------------------------------------------- upgrade
def upgrade_checkpoint(src: str, dst: str, trust: bool = False) -> List[str]:
    """Write a copy of the checkpoint ``src`` that loads with
    ``torch.load(weights_only=True)`` (values stored as by
    :class:`SafeCheckpointHook`), to ``dst``.

    Args:
        src (str): The checkpoint to convert.
        dst (str): Where to write the copy (not ``src``; written to a
            temporary name and renamed into place, so an interrupted run
            leaves no partial file).
        trust (bool): Unpickle ``src`` without the weights-only restriction.
            Needed for any file that is not weights-only safe already; only
            for files from a source you trust (unpickling runs the code a
            crafted file holds).

    Returns:
        list[str]: What was done, one line each.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        UnsafeCheckpointError: ``src`` needs ``trust=True``.
        ValueError: ``dst`` is ``src``, or ``src`` holds objects with no plain
            form (listed; nothing is written).
    """
    src, dst = osp.expanduser(str(src)), osp.expanduser(str(dst))
    if not osp.isfile(src):
        raise FileNotFoundError(f'checkpoint {src} does not exist')
    if osp.exists(dst) and osp.samefile(src, dst) or osp.abspath(src) == osp.abspath(dst):
        raise ValueError(f'upgrade_checkpoint: write the copy to another file than {src} (the original stays '
                         'untouched until you replace it)')
    try:
        ckpt = torch.load(src, map_location='cpu', weights_only=not trust)
    except pickle.UnpicklingError as e:
        raise explain_unsafe(src, e) from e
    if not isinstance(ckpt, dict):
        raise ValueError(f'{src} holds a {type(ckpt).__name__}, not a checkpoint dict')
    ckpt = decode_checkpoint(ckpt)  # an already-encoded file is re-encoded as a whole
    left = encode_checkpoint(ckpt)
    if left:
        raise ValueError(f'{src} holds objects with no plain form, so the copy would still need trusted '
                         f'loading: {"; ".join(left[:5])}' + (f' ... ({len(left)} in all)' if len(left) > 5 else '')
                         + '. Remove them from the checkpoint first (nothing was written).')
    folder = osp.dirname(osp.abspath(dst))
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(dst) + '.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        torch.load(tmp, map_location='cpu', weights_only=True)  # the property that counts
        os.replace(tmp, dst)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    n = len(ckpt.get(ENCODED_KEY, {}).get('entries', []))
    return [f'read {src}' + (' (trusted: unpickled without restriction)' if trust else ''),
            f'stored {n} value(s) as plain data', f'wrote {dst}: it loads with torch.load(weights_only=True)']


def main(argv=None) -> int:
    """Command line of :func:`upgrade_checkpoint` (``tools/upgrade_checkpoint.py``)."""
    import argparse
    import sys
    parser = argparse.ArgumentParser(
        prog='upgrade_checkpoint',
        description='Write a copy of a checkpoint that loads with torch.load(weights_only=True): numpy values '
        'and MMEngine HistoryBuffers stored as plain data, as SafeCheckpointHook stores them.')
    parser.add_argument('src', help='the checkpoint to convert (left untouched)')
    parser.add_argument('dst', help='where to write the weights-only-safe copy')
    parser.add_argument('--trust', action='store_true',
                        help='unpickle SRC without the weights-only restriction: only for a file you trust (you, '
                        'or a source you trust, wrote it); a crafted file runs its code when unpickled')
    args = parser.parse_args(argv)
    try:
        done = upgrade_checkpoint(args.src, args.dst, trust=args.trust)
    except (FileNotFoundError, ValueError, pickle.UnpicklingError) as e:
        print(f'upgrade_checkpoint: {e}', file=sys.stderr)
        return 1
    print('\n'.join(done))
    return 0


# ------------------------------------------------------------------- hook
@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Make the Runner's checkpoints load with ``torch.load(weights_only=True)``.

    ``before_save_checkpoint`` stores the values that unpickler refuses
    (numpy arrays and scalars, the message hub's ``HistoryBuffer`` objects)
    as plain data (:func:`encode_checkpoint`); ``after_load_checkpoint``
    restores the exact objects (:func:`decode_checkpoint`), so resuming
    continues as from a plain MMEngine checkpoint. Values with no plain form
    are left as they are, with one warning naming them (that file then needs
    trusted loading).

    Our configs get it through :class:`~mmpose_lite.engine.LiteRunner`; any
    config can list it: ``custom_hooks = [dict(type='SafeCheckpointHook')]``.
    Its priority is ``LOWEST``, so it encodes after every other hook has
    added to the checkpoint.
    """
    priority = 'LOWEST'

    def __init__(self):
        self._warned = set()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        left = encode_checkpoint(checkpoint)
        if left and frozenset(left) not in self._warned:
            self._warned.add(frozenset(left))
            runner.logger.warning(
                f'SafeCheckpointHook: {len(left)} value(s) of the checkpoint have no plain form that '
                f'torch.load(weights_only=True) accepts: {"; ".join(left[:5])}' +
                (f' ... ({len(left)} in all)' if len(left) > 5 else '') +
                '. They are saved as they are, so loading these checkpoints will need trusted loading '
                '(see tools/upgrade_checkpoint.py).')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        decode_checkpoint(checkpoint)
