"""The synthetic generator never leaves a half-written data set in use.

A generation killed half-way is detected (no manifest) and redone; an
interrupted publication leaves the old or the new data set complete, never a
mix; two runs into one folder at once are serialised by a lock file in it;
the demo's "data exists" check is the manifest.
"""
import fcntl
import multiprocessing
import os
import signal
import time
from pathlib import Path

import cv2
import pytest

from mmpose_lite.datasets import synthetic as S
from mmpose_lite.datasets.synthetic import atomic
from ..conftest import process_running

TINY = dict(num_train=4, num_val=2, img_size=(64, 64))
#: long enough to be killed half-way (about 2 s of rendering alone)
LONG = dict(num_train=400, num_val=0, img_size=(64, 64))


def _files(root: Path):
    """Every file of the data set (relative path -> bytes); hidden entries
    (leftovers, the lock file) excluded."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file() and not p.relative_to(root).parts[0].startswith('.')}


def _leftovers(root: Path):
    """Hidden entries of the folder but the lock file."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.name.startswith('.') and p.name != S.LOCK_NAME)


@pytest.fixture(scope='module')
def refs(tmp_path_factory):
    """Complete reference data sets for seeds 0 and 1."""
    out = {}
    for seed in (0, 1):
        root = tmp_path_factory.mktemp(f'ref{seed}') / 'data'
        S.generate_synthetic_coco(root, seed=seed, **TINY)
        out[seed] = _files(root)
    assert out[0] != out[1]
    return out


@pytest.fixture
def fork_ctx():
    """Processes forked from the test process run the generator in the
    background; OpenCV's thread pool does not survive fork(), so it is off
    meanwhile (as the generator does for its own workers)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    procs = []
    ctx = multiprocessing.get_context('fork')

    def start(gate=None, **kwargs):
        p = ctx.Process(target=_generate, args=(gate,), kwargs=kwargs)
        p.start()
        procs.append(p)
        return p
    yield start
    for p in procs:
        if p.is_alive():
            p.kill()
        p.join(10)
    cv2.setNumThreads(threads)


def _generate(gate, **kwargs):
    if gate is not None:
        gate.wait()
    S.generate_synthetic_coco(**kwargs)


def _wait_for(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f'timed out after {timeout} s waiting for {what}')


def _staged_images(root: Path) -> int:
    return sum(len(os.listdir(p / 'train')) for p in root.glob(atomic.STAGING_PREFIX + '*') if (p / 'train').is_dir())


def test_manifest_is_written_last_and_checked(tmp_path, refs):
    root = tmp_path / 'data'
    res = S.generate_synthetic_coco(root, seed=0, **TINY)
    assert not res.reused and _files(root) == refs[0]
    manifest = S.read_manifest(root)
    assert manifest['config']['seed'] == 0 and manifest['config']['img_size'] == [64, 64]
    assert set(manifest['files']) == set(refs[0]) - {S.MANIFEST_NAME}
    assert manifest['counts']['num_train_annotations'] == res.num_train_annotations
    assert _leftovers(root) == []

    # same arguments: reused, nothing written
    before = {p: p.stat().st_mtime_ns for p in root.rglob('*')}
    res = S.generate_synthetic_coco(root, seed=0, reuse=True, **TINY)
    assert res.reused and res.num_train_annotations == manifest['counts']['num_train_annotations']
    assert {p: p.stat().st_mtime_ns for p in root.rglob('*')} == before
    # other arguments: regenerated
    assert not S.generate_synthetic_coco(root, seed=1, reuse=True, **TINY).reused
    assert _files(root) == refs[1]

    # a damaged data set is incomplete, and reuse redoes it
    img = root / 'train' / '000000000002.jpg'
    img.write_bytes(img.read_bytes()[:100])
    assert S.read_manifest(root) is None
    assert not S.generate_synthetic_coco(root, seed=1, reuse=True, **TINY).reused
    assert _files(root) == refs[1]
    (root / 'val' / '000000000001.jpg').unlink()
    assert S.read_manifest(root) is None
    S.generate_synthetic_coco(root, seed=1, reuse=True, **TINY)
    (root / S.MANIFEST_NAME).write_text('{"format": 1, "files": {')  # truncated
    assert S.read_manifest(root) is None
    (root / S.MANIFEST_NAME).unlink()   # e.g. written by an older version
    assert S.read_manifest(root) is None
    assert not S.generate_synthetic_coco(root, seed=1, reuse=True, **TINY).reused
    assert S.read_manifest(root) is not None


def test_other_entries_of_the_folder_are_left_alone(tmp_path):
    root = tmp_path / 'data'
    root.mkdir()
    (root / 'notes.txt').write_text('mine')
    S.generate_synthetic_coco(root, seed=0, **TINY)
    S.generate_synthetic_coco(root, seed=1, **TINY)
    assert (root / 'notes.txt').read_text() == 'mine'
    assert sorted(p.name for p in root.iterdir()) == sorted(['annotations', 'train', 'val', 'notes.txt',
                                                             S.MANIFEST_NAME, S.LOCK_NAME])


def test_killed_generation_is_detected_and_redone(tmp_path, fork_ctx):
    root = tmp_path / 'data'
    proc = fork_ctx(out_dir=root, seed=0, **LONG)
    _wait_for(lambda: _staged_images(root) >= 5, 120, 'the generation to write images')
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    # half-way: images written, nothing published, nothing to use
    assert _staged_images(root) < LONG['num_train'], 'the kill came after the generation finished'
    assert _leftovers(root), 'the killed run left no staging folder'
    assert not (root / 'train').exists() and not (root / 'annotations').exists()
    assert S.read_manifest(root) is None

    # the next run (with reuse, as the demo runs it) redoes it, removes the
    # leftovers and gets exactly what an uninterrupted run writes
    small = dict(LONG, num_train=6)
    res = S.generate_synthetic_coco(root, seed=0, reuse=True, **small)
    assert not res.reused
    assert _leftovers(root) == []
    ref = tmp_path / 'ref'
    S.generate_synthetic_coco(ref, seed=0, **small)
    assert _files(root) == _files(ref)


def test_killed_generation_with_workers_leaves_no_worker_and_no_lock(tmp_path, fork_ctx):
    """A killed parent takes its pool workers along (multiprocessing's pool
    workers see their task pipe close); none keeps the lock, so the next run
    does not wait."""
    root = tmp_path / 'data'
    proc = fork_ctx(out_dir=root, seed=0, workers=2, **LONG)
    _wait_for(lambda: _staged_images(root) >= 5, 120, 'the generation to write images')
    children = [int(pid) for pid in os.listdir('/proc') if pid.isdigit() and _ppid(int(pid)) == proc.pid]
    assert len(children) >= 2, children   # the pool's workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    try:
        _wait_for(lambda: not any(process_running(pid) for pid in children), 10, f'pool workers {children} to exit')
    finally:
        for pid in children:
            if process_running(pid):
                os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    assert not S.generate_synthetic_coco(root, seed=0, reuse=True, **TINY).reused
    assert time.monotonic() - t0 < 30
    assert S.read_manifest(root) is not None


def _ppid(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return int(f.read().rsplit(')', 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_a_run_waits_for_the_lock(tmp_path, fork_ctx, refs):
    root = tmp_path / 'data'
    root.mkdir()
    lock = root / S.LOCK_NAME
    lock.touch()
    # forked before the lock is taken here (a forked child shares the
    # holder's lock), started once it is held
    gate = multiprocessing.get_context('fork').Event()
    proc = fork_ctx(gate=gate, out_dir=root, seed=1, **TINY)
    with open(lock) as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        gate.set()
        time.sleep(1.5)
        assert proc.is_alive()
        # it waits: nothing written, not even a staging folder
        assert [p.name for p in root.iterdir()] == [S.LOCK_NAME]
    proc.join(60)
    assert proc.exitcode == 0
    assert _files(root) == refs[1]


@pytest.mark.parametrize('seeds', [(0, 1), (0, 0)])
def test_concurrent_runs_into_one_folder(tmp_path, fork_ctx, refs, seeds):
    root = tmp_path / 'data'
    procs = [fork_ctx(out_dir=root, seed=s, **TINY) for s in seeds]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    files = _files(root)
    # exactly one run's complete output, never a mix
    assert files == refs[0] or files == refs[1]
    seed = 0 if files == refs[0] else 1
    assert seed in seeds and S.read_manifest(root)['config']['seed'] == seed
    assert _leftovers(root) == []


class _Interrupted(BaseException):
    """Stands for a kill: no ``except Exception`` / cleanup code handles it."""


class _CrashingOs:
    """The publishing module's (``atomic``) ``os`` with ``replace``/``remove`` recorded, and
    a simulated kill before the ``crash_at``-th of them."""

    def __init__(self, crash_at=None):
        self.crash_at, self.events = crash_at, []

    def __getattr__(self, name):
        return getattr(os, name)

    def _event(self, what):
        self.events.append(what)
        if len(self.events) - 1 == self.crash_at:
            raise _Interrupted(what)

    def replace(self, src, dst):
        self._event(('replace', os.path.basename(dst)))
        os.replace(src, dst)

    def remove(self, path):
        self._event(('remove', os.path.basename(path)))
        os.remove(path)


def test_publication_interrupted_at_each_step(tmp_path, refs, monkeypatch):
    """Regenerating seed 1 over a complete seed-0 data set, interrupted
    before each rename/removal of the publication (and after the last):
    the folder holds a complete data set (the old or the new one) or is
    marked incomplete, and the next run completes it."""
    def fresh(name):
        root = tmp_path / name
        S.generate_synthetic_coco(root, seed=0, **TINY)
        return root

    dry = fresh('dry')
    recorder = _CrashingOs()
    monkeypatch.setattr(atomic, 'os', recorder)
    S.generate_synthetic_coco(dry, seed=1, **TINY)
    monkeypatch.undo()
    events = recorder.events
    # the old manifest goes first, the new one comes last
    assert events[0] == ('remove', S.MANIFEST_NAME) and events[-1] == ('replace', S.MANIFEST_NAME)
    replaced = [e for e in events if e[0] == 'replace'][:-1]
    assert replaced == [('replace', e) for e in atomic.DATA_ENTRIES for _ in (0, 1)]

    for k in range(len(events) + 1):
        root = fresh(f'crash{k}')
        monkeypatch.setattr(atomic, 'os', _CrashingOs(crash_at=k))
        with pytest.raises(_Interrupted) if k < len(events) else _nothing():
            S.generate_synthetic_coco(root, seed=1, **TINY)
        monkeypatch.undo()
        manifest = S.read_manifest(root)
        if manifest is not None:
            assert _files(root) == refs[manifest['config']['seed']], f'interrupted before event {k}: a mix'
        else:
            assert 0 < k < len(events), f'before event {k}: marked incomplete although nothing was replaced'
        S.generate_synthetic_coco(root, seed=1, reuse=True, **TINY)
        assert _files(root) == refs[1] and _leftovers(root) == [], f'interrupted before event {k}'


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_demo_uses_the_manifest(tmp_path, capsys):
    from mmpose_lite import demo
    root = tmp_path / 'data'
    demo.ensure_data(str(root), 3, 1, 0)
    assert '[demo] generated synthetic data' in capsys.readouterr().out
    demo.ensure_data(str(root), 3, 1, 0)
    assert '[demo] using the synthetic data' in capsys.readouterr().out
    # the annotation files alone (a killed generation of the older version,
    # or one whose images were not all written) are not "data exists"
    (root / S.MANIFEST_NAME).unlink()
    demo.ensure_data(str(root), 3, 1, 0)
    assert '[demo] generated synthetic data' in capsys.readouterr().out
    assert S.read_manifest(root)['config']['num_train'] == 3
