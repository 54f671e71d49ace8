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
import os.path as osp
import pickle
import re
from typing import List, Optional

import torch
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from ..utils.files import atomic_output
from .checkpoint_codec import ENCODED_KEY, decode_checkpoint, encode_checkpoint

__all__ = ['ENCODED_KEY', 'UnsafeCheckpointError', 'explain_unsafe', 'encode_checkpoint', 'decode_checkpoint',
           'upgrade_checkpoint', 'SafeCheckpointHook']

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
    with atomic_output(dst) as tmp:
        torch.save(ckpt, tmp)
        torch.load(tmp, map_location='cpu', weights_only=True)  # the property that counts
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
