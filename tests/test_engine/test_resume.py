"""Resume after a kill equals an uninterrupted run, and a killed run leaves
no DataLoader worker behind.

The training runs through MMPose's own ``tools/train.py`` (what ``mim train
mmpose`` runs) on a tiny model and a few generated images, with
``randomness=dict(seed=0, deterministic=True)`` and iteration checkpoints
every 2 iterations, once uninterrupted and once killed with SIGKILL (by PID)
after its second checkpoint appeared, then resumed with ``--resume``.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from ..conftest import REPO, process_running

TINY_CONFIG = (REPO / 'configs' / 'body_2d_keypoint' / 'topdown_heatmap' / 'synthetic' /
               'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py')
MAX_ITERS = 8   # checkpoints at 2, 4, 6, 8


def train_script():
    """MMPose's installed ``tools/train.py`` (the script ``mim train mmpose``
    runs)."""
    import mmpose
    path = Path(mmpose.__file__).parent / '.mim' / 'tools' / 'train.py'
    if not path.is_file():
        pytest.skip(f'MMPose\'s train script is not installed ({path})')
    return path


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Generated data and a user config inheriting our tiny preset config:
    iteration-based, no validation, checkpoints every 2 iterations with
    ``max_keep_ckpts=1`` (as the demo config keeps them)."""
    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    root = tmp_path_factory.mktemp('resume')
    data = root / 'synth'
    generate_synthetic_coco(data, num_train=6, num_val=0, img_size=(128, 96), seed=0)
    config = root / 'tiny_iter.py'
    config.write_text(textwrap.dedent(f'''\
        _base_ = ['{TINY_CONFIG}']
        train_cfg = dict(_delete_=True, by_epoch=False, max_iters={MAX_ITERS}, val_interval=10000)
        val_cfg = val_dataloader = val_evaluator = None
        test_cfg = test_dataloader = test_evaluator = None
        custom_hooks = []
        param_scheduler = [dict(type='LinearLR', begin=0, end=4, start_factor=0.1, by_epoch=False)]
        default_hooks = dict(checkpoint=dict(interval=2, by_epoch=False, max_keep_ckpts=1),
                             logger=dict(interval=1))
        randomness = dict(seed=0, deterministic=True)
        '''))
    options = [f'train_dataloader.dataset.data_root={data}/',
               'train_dataloader.dataset.ann_file=annotations/person_keypoints_train.json',
               'train_dataloader.dataset.data_prefix.img=train/',
               'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False']
    return root, config, options


def train(setup, work_dir, *extra, wait=True):
    """``python <mmpose>/tools/train.py CONFIG --work-dir W [extra] --cfg-options <data>``."""
    _, config, options = setup
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
    cmd = [sys.executable, str(train_script()), str(config), '--work-dir', str(work_dir), *extra,
           '--cfg-options', *options]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if wait:
        finish(proc)
    return proc


def finish(proc):
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out[-3000:]
    return out


def scalars(work_dir):
    """Training loss per iteration of the latest run in ``work_dir``
    (MMEngine's ``vis_data/scalars.json``)."""
    runs = sorted(p for p in Path(work_dir).iterdir() if (p / 'vis_data' / 'scalars.json').is_file())
    lines = (runs[-1] / 'vis_data' / 'scalars.json').read_text().splitlines()
    return {r['step']: r['loss'] for r in map(json.loads, lines) if 'loss' in r}


def tensors(tree, prefix=''):
    """Every tensor of a nested checkpoint dict, by key path."""
    out = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(tensors(v, f'{prefix}/{k}'))
    elif torch.is_tensor(tree):
        out[prefix] = tree
    return out


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_resume_after_sigkill_equals_uninterrupted_run(setup, tmp_path):
    reference = tmp_path / 'reference'
    work = tmp_path / 'killed'
    proc = train(setup, work, wait=False)
    ref_proc = train(setup, reference, wait=False)   # meanwhile, the uninterrupted run
    try:
        deadline = time.monotonic() + 300
        latest = work / 'last_checkpoint'
        # the second checkpoint is saved when last_checkpoint names it
        while not (latest.exists() and latest.read_text().endswith('iter_4.pth')):
            assert proc.poll() is None, f'training ended before its second checkpoint:\n{proc.stdout.read()[-3000:]}'
            assert time.monotonic() < deadline, 'no second checkpoint after 300 s'
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        ref_out = finish(ref_proc)
    finally:
        for p in (proc, ref_proc):
            if p.poll() is None:
                p.kill()
    assert proc.returncode == -signal.SIGKILL
    # our configs save through the crash-safe hook (LiteRunner puts it in
    # place of MMEngine's CheckpointHook)
    assert '(VERY_LOW    ) AtomicCheckpointHook' in ref_out
    assert not (work / f'iter_{MAX_ITERS}.pth').exists(), 'the kill came after training ended'
    resumed_from = int((work / 'last_checkpoint').read_text().strip().rsplit('_', 1)[1].split('.')[0])
    assert resumed_from in (4, 6)

    train(setup, work, '--resume')

    final = torch.load(work / f'iter_{MAX_ITERS}.pth', map_location='cpu', weights_only=True)
    expected = torch.load(reference / f'iter_{MAX_ITERS}.pth', map_location='cpu', weights_only=True)
    for part in ('state_dict', 'optimizer'):
        a, b = tensors(final[part]), tensors(expected[part])
        assert a.keys() == b.keys() and len(a) > 0, part
        diff = max((x.double() - y.double()).abs().max().item() for x, y in zip(a.values(), b.values()))
        print(f'resumed from iteration {resumed_from}: {part}: {len(a)} tensors, max abs diff {diff}')
        assert diff == 0.0, f'{part}: max abs diff {diff} after resuming from iteration {resumed_from}'
    assert final['optimizer']['state'], 'no Adam state in the checkpoint'
    assert final['meta']['iter'] == MAX_ITERS

    losses, expected_losses = scalars(work), scalars(reference)
    after = {s: v for s, v in expected_losses.items() if s > resumed_from}
    assert sorted(losses) == sorted(after) == list(range(resumed_from + 1, MAX_ITERS + 1))
    print(f'losses after the resume point (resumed / uninterrupted): {losses} / {after}')
    assert losses == after


# ------------------------------------------------------------ DataLoader workers
WORKER_SCRIPT = r'''
import os, sys, time
import torch
from torch.utils.data import DataLoader, Dataset
import importlib.util
spec = importlib.util.spec_from_file_location('workers', sys.argv[1])  # stdlib only: no package import
workers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(workers)
worker_exit_with_parent = workers.worker_exit_with_parent


class Big(Dataset):
    """Items of 1 MB, so that a worker whose parent died blocks on a full pipe."""
    def __len__(self):
        return 10 ** 6

    def __getitem__(self, i):
        return os.getpid(), b'x' * (1 << 20)


def pids(loader):
    it = iter(loader)
    return {int(next(it)[0][0]) for _ in range(6)}


def seed_fn(worker_id, base):
    torch.manual_seed(base + worker_id)


import functools
kw = dict(batch_size=1, num_workers=2, persistent_workers=True, prefetch_factor=4)
wrapped = DataLoader(Big(), worker_init_fn=worker_exit_with_parent(functools.partial(seed_fn, base=3)), **kw)
plain = DataLoader(Big(), **kw)
print(' '.join(map(str, sorted(pids(wrapped)))), '|', ' '.join(map(str, sorted(pids(plain)))), flush=True)
time.sleep(600)
'''


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='PR_SET_PDEATHSIG is Linux only')
def test_killed_run_leaves_no_dataloader_worker(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    module = REPO / 'mmpose_lite' / 'engine' / 'workers.py'
    proc = subprocess.Popen([sys.executable, '-c', WORKER_SCRIPT, str(module)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    plain = []
    try:
        line = proc.stdout.readline()
        assert '|' in line, proc.stderr.read()[-3000:]
        wrapped, plain = ([int(p) for p in half.split()] for half in line.split('|'))
        assert len(wrapped) == 2 and len(plain) == 2
        assert all(map(process_running, wrapped + plain))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        deadline = time.monotonic() + 10
        while any(map(process_running, wrapped)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(map(process_running, wrapped)), f'workers {wrapped} outlived their killed parent'
        # the control: workers without the wrapper are orphaned (past torch's
        # own 5 s parent check), which is what the wrapper prevents
        time.sleep(max(0.0, deadline - time.monotonic()) - 3)
        assert any(map(process_running, plain)), 'unwrapped workers exited too: this test shows nothing here'
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in plain:
            if process_running(pid):
                os.kill(pid, signal.SIGKILL)


def test_worker_init_fn_wrapper_is_picklable_and_calls_the_wrapped_function(monkeypatch):
    import functools
    import pickle

    from mmpose_lite.engine import workers
    calls = []
    monkeypatch.setattr(workers, 'exit_with_parent', lambda: calls.append('prctl'))
    fn = workers.worker_exit_with_parent(functools.partial(_record, calls=calls))
    assert workers.worker_exit_with_parent(fn) is fn   # wrapping twice changes nothing
    fn(3)
    assert calls == ['prctl', 3]
    again = pickle.loads(pickle.dumps(workers.worker_exit_with_parent(functools.partial(int, base=10))))
    assert again.worker_init_fn.keywords == {'base': 10}
    workers.worker_exit_with_parent(None)(0)
    assert calls == ['prctl', 3, 'prctl']
    with pytest.raises(TypeError, match='worker_init_fn must be None or callable'):
        workers.worker_exit_with_parent('seed')


def _record(worker_id, calls):
    calls.append(worker_id)


class _Items(torch.utils.data.Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.tensor(i)


def test_lite_runner_dataloader_workers_exit_with_parent():
    """Our Runner's DataLoaders get the wrapper around MMEngine's seeding
    ``worker_init_fn``, and their workers run it."""
    from mmpose_lite.engine.runner import LiteRunner
    from mmpose_lite.engine.workers import _ExitWithParent
    loader = LiteRunner.build_dataloader(
        dict(dataset=_Items(), sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2, num_workers=2),
        seed=0)
    assert isinstance(loader.worker_init_fn, _ExitWithParent)
    assert loader.worker_init_fn.worker_init_fn is not None   # MMEngine's per-worker seeding, kept
    assert sorted(int(x) for batch in loader for x in batch) == [0, 1, 2, 3]
