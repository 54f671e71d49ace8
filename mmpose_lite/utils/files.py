"""Writing files so that a kill at any moment leaves the old file or the new
one, never a partial file under the final name: :func:`atomic_output` for
every writer (checkpoints, ONNX models, converted weights, generated pages),
built on :func:`replace_durably`.

>>> import os, tempfile
>>> dst = os.path.join(tempfile.mkdtemp(), 'page.md')
>>> with atomic_output(dst) as tmp:
...     _ = open(tmp, 'w').write('done')
>>> open(dst).read(), sorted(os.listdir(os.path.dirname(dst)))
('done', ['page.md'])
"""
import os
import os.path as osp
import secrets
from contextlib import contextmanager
from typing import Iterator

__all__ = ['atomic_output', 'fsync_dir', 'replace_durably']


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDWR)  # Windows flushes only writable handles
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """Flushes a folder's entries (a rename into it) to disk where the OS
    allows it (not on Windows, where folders cannot be opened; some file
    systems refuse it too)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_durably(src: str, dst: str) -> None:
    """Flushes ``src`` to disk, renames it to ``dst`` atomically (replacing
    ``dst``) and flushes the folder entry.

    Args:
        src: A complete file, in the same folder as ``dst``.
        dst: The final path.
    """
    _fsync_file(src)
    os.replace(src, dst)
    fsync_dir(osp.dirname(osp.abspath(dst)))


@contextmanager
def atomic_output(dst: str, suffix: str = '.part') -> Iterator[str]:
    """A temporary path beside ``dst`` to write to; when the block finishes,
    it replaces ``dst`` (:func:`replace_durably`). If the block raises (or is
    interrupted), the temporary file is removed and ``dst`` is untouched.

    Args:
        dst: The final path (its folder is created if absent).
        suffix: Ending of the temporary name (``.<name>.<random><suffix>``,
            hidden, so no tool takes it for a finished file).

    Yields:
        str: The temporary path (an empty file exists there, with the
        permissions ``open(dst, 'w')`` would give).
    """
    folder = osp.dirname(osp.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(dst)}.{secrets.token_hex(4)}{suffix}')
    # created like open(path, 'w') creates files (0o666 less the umask), not mkstemp's owner-only 0o600
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        replace_durably(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
