"""AtomicCheckpointHook: a kill at any moment of a checkpoint save leaves a
resumable run, also with ``max_keep_ckpts=1``.

A toy model trains through our Runner (``LiteRunner``, as our configs build
it) with iteration checkpoints every 2 iterations. Each save is interrupted
in turn before each of its file-system steps (and in the middle of writing
each file) by a simulated kill: an exception no cleanup code handles, so
the files are left exactly as a SIGKILL at that moment leaves them. The run
must then be resumable (``last_checkpoint`` names a complete checkpoint)
and, resumed, end bitwise equal to an uninterrupted run.
"""
import os
import stat
import sys
import uuid

import pytest
import torch

from mmpose_lite.engine import atomic_checkpoint as AC
from mmpose_lite.engine.atomic_checkpoint import AtomicCheckpointHook
from mmpose_lite.utils import files as FILES
from ..conftest import ToyModel

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc/self/fd')

MAX_ITERS = 8   # checkpoints at 2, 4, 6, 8


class ToyDataset(torch.utils.data.Dataset):
    metainfo = {}

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(12, 4, generator=g)
        self.y = torch.randn(12, 1, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], targets=self.y[i])


def make_runner(work_dir, resume=False, checkpoint_hook=None):
    """Our Runner, with the checkpoint hook a config names by default."""
    from mmpose_lite.engine.runner import LiteRunner
    ckpt = checkpoint_hook or dict(type='CheckpointHook', interval=2, by_epoch=False, max_keep_ckpts=1)
    return LiteRunner(
        model=ToyModel(), work_dir=str(work_dir), experiment_name=f'toy-{uuid.uuid4().hex}',
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='InfiniteSampler', shuffle=True),
                              batch_size=4, num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=MAX_ITERS),
        default_hooks=dict(checkpoint=ckpt, logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), resume=resume, default_scope='mmpose')


def load(path):
    # our own, trusted files
    return torch.load(path, map_location='cpu', weights_only=False)


def checkpoint_files(work_dir):
    """The files in the work dir but the config dump (logs are in folders)."""
    return sorted(p for p in os.listdir(work_dir) if os.path.isfile(os.path.join(work_dir, p)) and
                  not p.endswith('.py'))


def final_state(work_dir):
    ckpt = load(os.path.join(work_dir, f'iter_{MAX_ITERS}.pth'))
    return dict(state_dict=ckpt['state_dict'], adam=ckpt['optimizer']['state'])


def assert_bitwise_equal(a, b, what):
    assert a.keys() == b.keys(), what
    for k in a:
        if isinstance(a[k], dict):
            assert_bitwise_equal(a[k], b[k], f'{what}.{k}')
        elif torch.is_tensor(a[k]):
            assert torch.equal(a[k], b[k]), f'{what}.{k} differs'
        else:
            assert a[k] == b[k], f'{what}.{k}'


class SimulatedKill(BaseException):
    """What a SIGKILL does to the saving code: it stops there; no
    ``except Exception`` handler or cleanup runs."""


class CrashingOs:
    """Stands in for ``os`` in the hook module and in mmpose_lite.utils.files: records each ``fsync``,
    ``replace`` and ``remove`` and raises :class:`SimulatedKill` at event
    ``crash_at`` (before it is done; with ``torn``, an fsync'd file is first
    cut to half its size: a kill in the middle of writing it)."""

    def __init__(self, crash_at=None, torn=False):
        self.crash_at, self.torn, self.events = crash_at, torn, []

    def __getattr__(self, name):
        return getattr(os, name)

    def _event(self, kind, path, regular=False):
        self.events.append((kind, os.path.basename(path)))
        if len(self.events) - 1 == self.crash_at:
            if self.torn and regular:
                os.truncate(path, os.path.getsize(path) // 2)
            raise SimulatedKill(self.events[-1])

    def fsync(self, fd):
        self._event('fsync', os.readlink(f'/proc/self/fd/{fd}'), stat.S_ISREG(os.fstat(fd).st_mode))
        os.fsync(fd)

    def replace(self, src, dst):
        self._event('replace', dst)
        os.replace(src, dst)

    def remove(self, path):
        self._event('remove', path)
        os.remove(path)


def _patch_os(mp, fake):
    """Route the hook's file operations, and the helpers it writes through, to ``fake``."""
    for module in (AC, FILES):
        mp.setattr(module, 'os', fake)


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    """An uninterrupted run: its final state and the file-system events of
    its saves."""
    work = tmp_path_factory.mktemp('reference')
    recorder = CrashingOs()
    mp = pytest.MonkeyPatch()
    _patch_os(mp, recorder)
    try:
        runner = make_runner(work)
        runner.train()
    finally:
        mp.undo()
    return dict(work=work, runner=runner, events=recorder.events, state=final_state(work))


def test_configs_get_the_hook_and_it_keeps_mmengine_semantics(reference):
    runner, work = reference['runner'], reference['work']
    hooks = [h for h in runner.hooks if type(h).__name__.endswith('CheckpointHook')]
    assert [type(h) for h in hooks if 'Safe' not in type(h).__name__] == [AtomicCheckpointHook]
    assert hooks[0].atomic is True
    from mmpose.registry import HOOKS
    assert isinstance(HOOKS.build(dict(type='AtomicCheckpointHook', interval=1)), AtomicCheckpointHook)
    # max_keep_ckpts=1: only the last checkpoint stays; no temporary file
    assert checkpoint_files(work) == ['iter_8.pth', 'last_checkpoint']
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_8.pth')
    hub = load(work / 'iter_8.pth')['message_hub']['runtime_info']
    assert list(hub['keep_ckpt_ids']) == [8] and hub['last_ckpt'] == str(work / 'iter_8.pth')


def test_save_order(reference):
    """Checkpoint renamed into place, then last_checkpoint, then the old
    checkpoint deleted; every file flushed before its rename."""
    events = reference['events']
    second = events[events.index(('fsync', '.iter_4.pth.partial')):events.index(('remove', 'iter_2.pth')) + 1]
    assert [e for e in second if e[0] != 'fsync' or e[1].endswith('.partial')] == [
        ('fsync', '.iter_4.pth.partial'), ('replace', 'iter_4.pth'),
        ('fsync', '.last_checkpoint.partial'), ('replace', 'last_checkpoint'),
        ('remove', 'iter_2.pth')]
    # the folder is flushed after each rename
    assert second[2][0] == 'fsync' and second[5][0] == 'fsync'


def crash_points(events):
    """(event index, torn) for every event of the first two saves (the
    first one has nothing to delete; the second replaces it)."""
    end = events.index(('remove', 'iter_2.pth'))
    points = []
    for k, (kind, name) in enumerate(events[:end + 2]):
        points.append((k, False))
        if kind == 'fsync' and name.endswith('.partial'):
            points.append((k, True))
    return points


def test_kill_at_each_step_of_a_save_leaves_a_resumable_run(reference, tmp_path):
    points = crash_points(reference['events'])
    first_commit = reference['events'].index(('replace', 'last_checkpoint'))
    assert len(points) >= 14
    for k, torn in points:
        where = f'killed at {reference["events"][k]}{" (file half written)" if torn else ""}'
        work = tmp_path / f'crash{k}{"torn" if torn else ""}'
        mp = pytest.MonkeyPatch()
        _patch_os(mp, CrashingOs(crash_at=k, torn=torn))
        try:
            with pytest.raises(SimulatedKill):
                make_runner(work).train()
        finally:
            mp.undo()
        latest = work / 'last_checkpoint'
        if latest.exists():
            # resumable: names a complete checkpoint that loads
            named = latest.read_text().strip()
            assert os.path.isfile(named), f'{where}: last_checkpoint names the missing {named}'
            ckpt = load(named)
            assert {'state_dict', 'optimizer', 'message_hub'} <= set(ckpt), where
            assert ckpt['meta']['iter'] in (2, 4), where
        else:   # killed before the first save was complete: resuming starts afresh
            assert k <= first_commit, f'{where}: no last_checkpoint'
        runner = make_runner(work, resume=True)
        runner.train()
        assert_bitwise_equal(final_state(work), reference['state'], where)
        # leftovers of the killed save are gone: temporary files and the
        # checkpoint whose deletion the kill interrupted
        files = checkpoint_files(work)
        assert files == ['iter_8.pth', 'last_checkpoint'], f'{where}: {files}'


def test_mmengine_hook_alone_loses_the_run(tmp_path, monkeypatch):
    """The failure the hook prevents: MMEngine's CheckpointHook with
    max_keep_ckpts=1 deletes iter_2.pth before writing iter_4.pth, so a kill
    while iter_4.pth is written leaves last_checkpoint naming a deleted
    file."""
    from mmengine.fileio import LocalBackend
    put = LocalBackend.put

    def torn_put(self, obj, filepath):
        if str(filepath).endswith('iter_4.pth'):
            put(self, obj[:len(obj) // 2], filepath)
            raise SimulatedKill(filepath)
        put(self, obj, filepath)
    monkeypatch.setattr(LocalBackend, 'put', torn_put)
    from mmengine.hooks import CheckpointHook
    runner = make_runner(tmp_path, checkpoint_hook=CheckpointHook(interval=2, by_epoch=False, max_keep_ckpts=1))
    with pytest.raises(SimulatedKill):
        runner.train()
    named = (tmp_path / 'last_checkpoint').read_text()
    assert named.endswith('iter_2.pth') and not os.path.exists(named)


def test_best_checkpoint_replaced_only_after_the_new_one(tmp_path):
    for killed in (True, False):
        work = tmp_path / f'killed_{killed}'
        runner = make_runner(work)
        runner.train_loop  # noqa: B018  (builds the loop: runner.iter)
        hook = AtomicCheckpointHook(interval=2, by_epoch=False, save_best='acc', rule='greater')
        hook.before_train(runner)
        hook._save_best_checkpoint(runner, {'acc': 0.5})
        first = work / 'best_acc_iter_0.pth'
        assert first.is_file() and runner.message_hub.get_info('best_ckpt') == str(first)
        runner.train_loop._iter = 2
        if killed:
            mp = pytest.MonkeyPatch()
            _patch_os(mp, CrashingOs(crash_at=1))   # before the new best one is renamed into place
            try:
                with pytest.raises(SimulatedKill):
                    hook._save_best_checkpoint(runner, {'acc': 0.7})
            finally:
                mp.undo()
            assert first.is_file() and load(first)['state_dict'], 'the old best checkpoint was lost'
        else:
            hook._save_best_checkpoint(runner, {'acc': 0.4})   # not better: nothing happens
            assert first.is_file() and not (work / 'best_acc_iter_2.pth').exists()
            hook._save_best_checkpoint(runner, {'acc': 0.8})
            assert not first.exists() and load(work / 'best_acc_iter_2.pth')['state_dict']
            assert runner.message_hub.get_info('best_score') == 0.8
            assert [p.name for p in work.iterdir() if p.name.endswith('.partial')] == []

