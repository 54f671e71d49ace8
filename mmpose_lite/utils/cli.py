"""What the command-line tools share to check their arguments before they
spend time on their work: output folders that can be written, numbers in range."""
import argparse
import os
import os.path as osp
import tempfile

__all__ = ['ensure_writable_dir', 'int_at_least']


def ensure_writable_dir(path: str, what: str = 'output folder') -> str:
    """Create the folder ``path`` if needed and check that files can be
    written into it (a probe file is created and removed); nothing else is
    touched.

    Args:
        path (str): The folder.
        what (str): What the folder is for, for the message (e.g.
            ``'--work-dir'``).

    Returns:
        str: The absolute path.

    Raises:
        OSError: The subclass for the failure (``PermissionError``,
            ``NotADirectoryError``, ...), with a message naming the folder,
            why, and what to do.
    """
    folder = osp.abspath(os.fspath(path))
    try:
        if osp.lexists(folder) and not osp.isdir(folder):
            raise NotADirectoryError(20, 'it exists and is not a folder')
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix='.write-test-', dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        reason = e.strerror or str(e)
        blocker = next((p for p in _ancestors(folder) if osp.lexists(p) and not osp.isdir(p)), None)
        if blocker is not None and blocker != folder:
            reason += f' ({blocker} is a file, not a folder)'
        message = (f'cannot write to the {what} {folder}: {reason}. Choose a folder you can write to, or fix its '
                   'permissions.')
        raise (OSError(e.errno, message) if e.errno else OSError(message)) from e
    return folder


def _ancestors(path: str):
    while True:
        yield path
        parent = osp.dirname(path)
        if parent == path:
            return
        path = parent


def int_at_least(low: int):
    """An ``argparse`` type: an int ``>= low`` (otherwise argparse's usage
    error, exit status 2, says which argument and why)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
        if value < low:
            raise argparse.ArgumentTypeError(f'must be at least {low}, got {value}')
        return value
    parse.__name__ = f'int >= {low}'
    return parse
