"""Complete-or-absent publication of the data set.

The files are written into a hidden staging folder inside the output
folder, then ``annotations/``, ``train/`` and ``val/`` replace the old ones
(as a whole; other entries of the folder are left alone) and the manifest
:data:`MANIFEST_NAME` (parameters, counts and the size of every file) is
renamed into place last: the data set is complete exactly when its
manifest is present and every file it lists has the recorded size. Runs
into one folder at once are serialised by an exclusive lock
(``fcntl.flock``) on the file :data:`LOCK_NAME` in it.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

try:  # POSIX; elsewhere concurrent runs into one folder are not serialised
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

from ...utils.files import fsync_dir
from .config import SyntheticCocoConfig

__all__ = ['MANIFEST_NAME', 'LOCK_NAME', 'read_manifest', 'exclusive', 'remove_leftovers', 'new_staging',
           'write_manifest', 'publish']

#: The manifest written last into the output folder: the data set is
#: complete exactly when it is present and lists every file at its size.
MANIFEST_NAME = 'synthetic_coco_manifest.json'
_MANIFEST_FORMAT = 1
#: The entries of the output folder a generation replaces.
DATA_ENTRIES = ('annotations', 'train', 'val')
STAGING_PREFIX = '.partial-'
#: Lock file inside the output folder (the folder itself is never renamed,
#: only its entries, so the lock stays valid and needs no other folder).
LOCK_NAME = '.synthetic_coco.lock'
_REPLACED_PREFIX = '.replaced-'


@contextmanager
def exclusive(root: str) -> Iterator[None]:
    """Holds an exclusive lock on :data:`LOCK_NAME` in ``root`` (created if
    needed and left in place; the kernel drops the lock when the process
    dies, so a killed run never blocks the next one)."""
    os.makedirs(root, exist_ok=True)
    lock_path = os.path.join(root, LOCK_NAME)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f'waiting for another generation into {root} to finish (lock {lock_path})', file=sys.stderr,
                      flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_leftovers(root: str) -> None:
    """Removes the staging and replaced folders killed runs left in
    ``root`` (safe under the lock: only its holder writes them)."""
    if not os.path.isdir(root):
        return
    for entry in os.listdir(root):
        if entry.startswith((STAGING_PREFIX, _REPLACED_PREFIX)):
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)


def new_staging(root: str) -> str:
    """Creates an empty staging folder inside ``root`` (same file system as
    the final entries, so the renames are atomic)."""
    os.makedirs(root, exist_ok=True)
    staging = os.path.join(root, f'{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}')
    os.makedirs(os.path.join(staging, 'annotations'))
    return staging


def write_manifest(staging: str, cfg: SyntheticCocoConfig, counts: Dict[str, int]) -> Dict[str, Any]:
    """Writes (and syncs) the manifest of the data set staged in
    ``staging``; returns it."""
    files = {}
    for entry in DATA_ENTRIES:
        for dirpath, _, names in os.walk(os.path.join(staging, entry)):
            for n in names:
                path = os.path.join(dirpath, n)
                rel = os.path.relpath(path, staging).replace(os.sep, '/')
                files[rel] = os.path.getsize(path)
    manifest = {'format': _MANIFEST_FORMAT,
                'generator': 'mmpose_lite.datasets.synthetic',
                'config': cfg.record(), 'counts': dict(counts),
                'files': dict(sorted(files.items()))}
    with open(os.path.join(staging, MANIFEST_NAME), 'w', encoding='utf-8', newline='\n') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    return manifest


def publish(staging: str, root: str) -> None:
    """Moves the staged data set into ``root``; the manifest comes last (the
    commit point), after the old one was removed first."""
    marker = os.path.join(root, MANIFEST_NAME)
    if os.path.lexists(marker):
        os.remove(marker)
        fsync_dir(root)
    replaced = os.path.join(root, _REPLACED_PREFIX + secrets.token_hex(4))
    for entry in DATA_ENTRIES:
        dst = os.path.join(root, entry)
        if os.path.lexists(dst):
            os.makedirs(replaced, exist_ok=True)
            os.replace(dst, os.path.join(replaced, entry))
        os.replace(os.path.join(staging, entry), dst)
    fsync_dir(root)
    os.replace(os.path.join(staging, MANIFEST_NAME), marker)
    fsync_dir(root)
    shutil.rmtree(replaced, ignore_errors=True)


def read_manifest(out_dir: str) -> Optional[Dict[str, Any]]:
    """The manifest of a complete synthetic data set in ``out_dir``.

    A data set is complete when its manifest (written last by
    :func:`~.generate.generate_synthetic_coco`) is present and readable and
    every file it lists exists with the recorded size. A generation killed
    half-way, a deleted or truncated file, or a folder written by an older
    version of the generator (no manifest) is incomplete.

    Args:
        out_dir: The generator's output folder.

    Returns:
        The manifest (``config``: the generation arguments, ``counts``,
        ``files``: relative path -> size in bytes), or None if the data set
        is absent or incomplete.
    """
    root = os.fspath(out_dir)
    try:
        with open(os.path.join(root, MANIFEST_NAME), encoding='utf-8') as f:
            manifest = json.load(f)
        if (manifest.get('format') != _MANIFEST_FORMAT or not isinstance(manifest.get('config'), dict)
                or not isinstance(manifest.get('counts'), dict)):
            return None
        for rel, size in manifest['files'].items():
            if os.path.getsize(os.path.join(root, rel)) != size:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return manifest
