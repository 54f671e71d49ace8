"""DataLoader workers that exit when their parent process dies.

When a training process is killed (``kill -9``, the OOM killer, a cluster
pre-emption), PyTorch's DataLoader workers can outlive it: each keeps its
copy of the dataset and model-free state in memory (hundreds of MB) and
never exits. :func:`worker_exit_with_parent` wraps a DataLoader's
``worker_init_fn`` so that each worker first asks the Linux kernel to kill
it when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), then runs
the wrapped function. ``LiteRunner.build_dataloader`` applies it to every
DataLoader with workers; elsewhere use it as::

    DataLoader(dataset, num_workers=2,
               worker_init_fn=worker_exit_with_parent(my_init_fn))

On other systems than Linux the wrapper only calls the wrapped function.
Note that the kernel sends the signal when the *thread* that started the
workers ends; DataLoaders iterated by MMEngine are started by the main
thread.
"""
import ctypes
import multiprocessing
import os
import signal
import sys
from typing import Callable, Optional

__all__ = ['worker_exit_with_parent', 'exit_with_parent']

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def exit_with_parent() -> bool:
    """Makes the calling process get SIGKILL when its parent dies (Linux).

    If the parent has already died before the request took effect (the
    process was re-parented), the process kills itself at once.

    Returns:
        True if the request is in place, False where it is not available
        (not Linux, or ``prctl`` refused).
    """
    if not sys.platform.startswith('linux'):
        return False
    # the parent as multiprocessing recorded it when it started this process
    # (a DataLoader worker is a multiprocessing.Process); os.getppid() now
    # may already be the reaper that adopted an orphan
    parent = multiprocessing.parent_process()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent is not None and (os.getppid() != parent.pid or not parent.is_alive()):
        os.kill(os.getpid(), signal.SIGKILL)
    return True


class _ExitWithParent:
    """Picklable ``worker_init_fn``: :func:`exit_with_parent`, then the
    wrapped function (if any)."""

    def __init__(self, worker_init_fn: Optional[Callable[[int], None]]) -> None:
        self.worker_init_fn = worker_init_fn

    def __call__(self, worker_id: int) -> None:
        exit_with_parent()
        if self.worker_init_fn is not None:
            self.worker_init_fn(worker_id)

    def __repr__(self) -> str:
        return f'worker_exit_with_parent({self.worker_init_fn!r})'


def worker_exit_with_parent(worker_init_fn: Optional[Callable[[int], None]] = None) -> Callable[[int], None]:
    """Wraps a DataLoader ``worker_init_fn`` so that the worker exits when
    its parent process dies.

    Args:
        worker_init_fn: The DataLoader's ``worker_init_fn`` (``None``, a
            function or a ``functools.partial`` as MMEngine builds it); it
            must be picklable for the ``spawn`` start method, and so is the
            result.

    Returns:
        A picklable callable taking the worker id; wrapping it again returns
        it unchanged.

    Raises:
        TypeError: If ``worker_init_fn`` is neither None nor callable.
    """
    if isinstance(worker_init_fn, _ExitWithParent):
        return worker_init_fn
    if worker_init_fn is not None and not callable(worker_init_fn):
        raise TypeError(f'worker_exit_with_parent: worker_init_fn must be None or callable, '
                        f'got {type(worker_init_fn).__name__} {worker_init_fn!r}')
    return _ExitWithParent(worker_init_fn)
