"""Multi-process (DDP) training on CPUs: ``mmpose_lite.engine.dist`` and
2-process runs through MMPose's own train script.

Unit tests (fast, in-process) check how :func:`init_cpu_process_group` reads
each launcher's environment and ``dist_cfg`` and what :func:`wrap_cpu_ddp`
builds, in a real one-process gloo group.

The integration test runs ``torchrun --nproc_per_node 2 <mmpose>/.mim/tools/
train.py CFG --launcher pytorch`` (the script ``mim train mmpose CFG
--launcher pytorch --gpus 2`` starts, there through ``torch.distributed.launch``)
on synthetic data for two backbone families, and checks that the first iteration's loss equals the loss of a
single-process run on the same global batch, and that the DDP checkpoint
loads (strictly) into a single-process ``mim test``.

Why the losses can be compared: with ``DefaultSampler(shuffle=False)`` rank
``r`` of 2 takes samples ``r, r + 2, ...``, so two ranks with batch 2 see
samples 0-3 in their first iteration, the single process with batch 4 the
same four. The pipeline has no random augmentation, both runs are seeded
alike (DDP broadcasts rank 0's initial weights, the single run draws the
same ones), and the backbone's BatchNorm runs with ``norm_eval=True``, so
every sample's loss does not depend on the others in its batch (BatchNorm in
training mode with 2 vs 4 samples would normalise differently; SyncBN would
fix that but torch's SyncBatchNorm refuses CPU tensors). The heatmap MSE
loss is a mean over equal-sized per-rank batches, so the mean of the two
ranks' losses is the single process's loss.
"""
import datetime
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model import MMDistributedDataParallel
from torch import distributed as torch_dist
from torch import nn

from mmpose_lite.engine import dist as lite_dist
from mmpose_lite.engine.dist import init_cpu_process_group, wrap_cpu_ddp
from ..conftest import REPO, mim_executable

LAUNCH_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'SLURM_PROCID', 'SLURM_NTASKS',
               'SLURM_LOCALID', 'SLURM_NODELIST', 'SLURM_NTASKS_PER_NODE', 'OMPI_COMM_WORLD_RANK',
               'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def clean_env(monkeypatch):
    """No launcher variables in the environment (restored afterwards)."""
    for name in LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def recorded_init(clean_env):
    """Replace ``init_process_group`` for the test: the list receives its keyword arguments."""
    calls = []
    clean_env.setattr(lite_dist.torch_dist, 'init_process_group', lambda **kw: calls.append(kw))
    return calls


def _torchrun_env(monkeypatch, rank=0, world=1):
    monkeypatch.setenv('RANK', str(rank))
    monkeypatch.setenv('WORLD_SIZE', str(world))
    monkeypatch.setenv('LOCAL_RANK', str(rank))
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(_free_port()))


def test_pytorch_launcher_arguments(recorded_init, clean_env):
    _torchrun_env(clean_env, rank=1, world=2)
    init_cpu_process_group('pytorch', dict(backend='nccl', timeout=30))
    assert recorded_init == [dict(backend='gloo', rank=1, world_size=2, timeout=datetime.timedelta(seconds=30))]
    init_cpu_process_group('pytorch', dict(backend='gloo'))
    assert recorded_init[-1] == dict(backend='gloo', rank=1, world_size=2)  # no timeout given: torch's default


def test_slurm_launcher_sets_the_variables_as_mmengine(recorded_init, clean_env, tmp_path):
    clean_env.setenv('SLURM_PROCID', '3')
    clean_env.setenv('SLURM_NTASKS', '4')
    clean_env.setenv('SLURM_LOCALID', '1')
    clean_env.setenv('SLURM_NODELIST', 'node[7-8]')
    # the master host comes from `scontrol show hostname <node list>` (a stand-in here)
    scontrol = tmp_path / 'scontrol'
    scontrol.write_text('#!/bin/sh\necho node7\necho node8\n')
    scontrol.chmod(0o755)
    clean_env.setenv('PATH', f'{tmp_path}{os.pathsep}{os.environ["PATH"]}')
    init_cpu_process_group('slurm', dict(port=29123, timeout=60))
    assert recorded_init == [dict(backend='gloo', rank=3, world_size=4, timeout=datetime.timedelta(seconds=60))]
    assert {k: os.environ[k] for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')} == dict(
        RANK='3', WORLD_SIZE='4', LOCAL_RANK='1', MASTER_ADDR='node7', MASTER_PORT='29123')
    # a MASTER_ADDR/MASTER_PORT already set wins over the node list and the default port
    clean_env.setenv('MASTER_ADDR', 'head')
    clean_env.setenv('MASTER_PORT', '1234')
    init_cpu_process_group('slurm', {})
    assert (os.environ['MASTER_ADDR'], os.environ['MASTER_PORT']) == ('head', '1234')


def test_mpi_launcher(recorded_init, clean_env):
    clean_env.setenv('OMPI_COMM_WORLD_RANK', '2')
    clean_env.setenv('OMPI_COMM_WORLD_SIZE', '3')
    clean_env.setenv('OMPI_COMM_WORLD_LOCAL_RANK', '0')
    with pytest.raises(RuntimeError, match='MASTER_ADDR is not set'):
        init_cpu_process_group('mpi', {})
    clean_env.setenv('MASTER_ADDR', 'head')
    init_cpu_process_group('mpi', {})
    assert recorded_init == [dict(backend='gloo', rank=2, world_size=3)]
    assert os.environ['MASTER_PORT'] == '29500'


@pytest.mark.parametrize('launcher, dist_cfg, env, error, match', [
    ('none', {}, {}, ValueError, r"unknown launcher 'none'; use 'pytorch'"),
    ('pytorch', {}, {}, RuntimeError, r"'pytorch': the environment variable RANK is not set; start the script with "
     'torchrun'),
    ('pytorch', {}, dict(RANK='x', WORLD_SIZE='1', LOCAL_RANK='0'), RuntimeError, r"RANK='x' is not an integer"),
    ('pytorch', {}, dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0'), RuntimeError,
     r"\['MASTER_ADDR', 'MASTER_PORT'\] are not set"),
    ('pytorch', dict(timeout='long'), {}, TypeError, 'timeout must be a positive number of seconds'),
    ('pytorch', dict(init_backend='deepspeed'), {}, ValueError, "init_backend='deepspeed' needs GPUs"),
    ('slurm', {}, dict(SLURM_PROCID='0', SLURM_NTASKS='1'), RuntimeError, 'neither MASTER_ADDR nor SLURM_NODELIST'),
    ('slurm', {}, dict(SLURM_NTASKS='1'), RuntimeError, 'SLURM_PROCID is not set; start the job with srun'),
])
def test_launch_errors_name_the_problem(recorded_init, clean_env, launcher, dist_cfg, env, error, match):
    for key, value in env.items():
        clean_env.setenv(key, value)
    with pytest.raises(error, match=match):
        init_cpu_process_group(launcher, dist_cfg)
    assert not recorded_init


def test_unknown_backend_is_refused(recorded_init, clean_env):
    _torchrun_env(clean_env)
    with pytest.raises(ValueError, match=r"backend='nope' is not available .* use backend='gloo'"):
        init_cpu_process_group('pytorch', dict(backend='nope'))


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.SyncBatchNorm(4)
        self.unused = nn.Linear(2, 2)

    def forward(self, x):
        return self.bn(self.conv(x))


@pytest.fixture
def gloo_group(clean_env):
    """A real one-process gloo group started by ``init_cpu_process_group``."""
    _torchrun_env(clean_env)
    init_cpu_process_group('pytorch', dict(backend='nccl', timeout=60))
    try:
        yield
    finally:
        torch_dist.destroy_process_group()


def test_wrap_cpu_ddp_in_a_real_gloo_group(gloo_group):
    assert torch_dist.get_backend() == 'gloo' and torch_dist.get_world_size() == 1
    x = torch.randn(2, 3, 8, 8)
    # the reason CPU runs keep BatchNorm: torch's SyncBatchNorm refuses CPU tensors in a process group
    with pytest.raises(ValueError, match='SyncBatchNorm expected input tensor to be on GPU'):
        _Net().train()(x)

    model = wrap_cpu_ddp(_Net(), Config(dict(find_unused_parameters=True, sync_bn='torch')))
    assert type(model) is MMDistributedDataParallel and model.device_ids is None
    assert model.find_unused_parameters
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    assert any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    model(x).sum().backward()
    assert model.module.conv.weight.grad is not None

    built = wrap_cpu_ddp(_Net(), Config(dict(model_wrapper_cfg=dict(find_unused_parameters=True))))
    assert type(built) is MMDistributedDataParallel and built.device_ids is None
    built(x).sum().backward()
    with pytest.raises(ValueError, match='a CPU model takes no device_ids'):
        wrap_cpu_ddp(_Net(), Config(dict(model_wrapper_cfg=dict(device_ids=[0]))))
    with pytest.raises(KeyError, match="model_wrapper_cfg.type='Nope' is not a registered model wrapper"):
        wrap_cpu_ddp(_Net(), Config(dict(model_wrapper_cfg=dict(type='Nope'))))


def test_second_init_is_refused(gloo_group):
    with pytest.raises(RuntimeError, match='already initialized'):
        init_cpu_process_group('pytorch', {})


# ------------------------------------------------------------------------------------------ integration

#: (demo config it inherits, model override): two backbone families, small and with frozen BN statistics.
FAMILIES = {
    'xhrnet': ('td-hm_xhrnet-s18_demo_synthcoco-128x96.py',
               "dict(backbone=dict(arch=dict(_delete_=True, base='s18', num_modules=(1, 1, 1)), norm_eval=True), "
               'head=dict(decoder=codec))'),
    'hourglass': ('td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py',
                  'dict(backbone=dict(norm_eval=True), head=dict(decoder=codec))'),
}

PROBE = '''"""Test-only hook: each rank writes its loss and sample ids of every iteration."""
import json
import os

from mmengine.hooks import Hook
from mmpose.registry import HOOKS


@HOOKS.register_module()
class DDPTestLossProbe(Hook):
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        ids = [int(s.metainfo['id']) for s in data_batch['data_samples']]
        with open(os.path.join(runner.work_dir, f'probe_rank{runner.rank}.jsonl'), 'a') as f:
            f.write(json.dumps(dict(iter=runner.iter, world_size=runner.world_size, ids=ids,
                                    loss=float(outputs['loss']))) + '\\n')
'''

CONFIG = '''_base_ = [{base!r}]
custom_imports = dict(imports=['mmpose_lite', 'mmpose_lite.engine.runner_type', 'ddp_probe'],
                      allow_failed_imports=False)
runner_type = 'LiteRunner'
codec = dict(type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=2)
model = {model}
train_pipeline = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
                  dict(type='TopdownAffine', input_size=codec['input_size']),
                  dict(type='GenerateTarget', encoder=codec), dict(type='PackPoseInputs')]
val_pipeline = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
                dict(type='TopdownAffine', input_size=codec['input_size']), dict(type='PackPoseInputs')]
data = {data!r}
train_dataloader = dict(batch_size={batch}, num_workers=0, persistent_workers=False,
                        sampler=dict(type='DefaultSampler', shuffle=False),
                        dataset=dict(data_root=data, pipeline=train_pipeline))
# no validation while training (the test run evaluates the checkpoint)
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                       dataset=dict(data_root=data, bbox_file=data + 'annotations/person_detection_results_val.json',
                                    pipeline=val_pipeline))
test_evaluator = dict(ann_file=data + 'annotations/person_keypoints_val.json')
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=1, save_best=None))
custom_hooks = [dict(type='DDPTestLossProbe')]
env_cfg = dict(dist_cfg=dict(backend='nccl', timeout=120))
randomness = dict(seed=0)
'''


@pytest.fixture(scope='module')
def synthetic_data(tmp_path_factory):
    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    root = tmp_path_factory.mktemp('ddp_data')
    generate_synthetic_coco(str(root / 'synth'), num_train=4, num_val=2, seed=0)
    return root / 'synth'


def _write_config(tmp_path, family, data, batch):
    base, model = FAMILIES[family]
    path = tmp_path / f'{family}_b{batch}.py'
    demo = REPO / 'configs/body_2d_keypoint/topdown_heatmap/synthetic' / base
    path.write_text(CONFIG.format(base=str(demo), model=model, data=f'{data}/', batch=batch))
    return path


def _run(cmd, tmp_path, what):
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(REPO), str(tmp_path), os.environ.get('PYTHONPATH', '')]))
    for name in LAUNCH_VARS:
        env.pop(name, None)
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    out = proc.stdout + proc.stderr
    log = tmp_path / (what.replace(' ', '_') + '.log')
    log.write_text(out)
    first_error = out.find('Traceback')
    excerpt = out[first_error:first_error + 4000] if first_error >= 0 else out[-4000:]
    assert proc.returncode == 0, f'{what} failed (exit {proc.returncode}, whole output in {log}):\n{excerpt}'
    return out


def _probe(work_dir, rank):
    path = Path(work_dir) / f'probe_rank{rank}.jsonl'
    assert path.is_file(), f'rank {rank} wrote no {path.name}'
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.integration
@pytest.mark.timeout(300)
@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_two_process_cpu_ddp_through_mmpose_train_script(family, synthetic_data, tmp_path):
    import mmpose
    train_py = Path(mmpose.__file__).parent / '.mim' / 'tools' / 'train.py'
    assert train_py.is_file(), f'MMPose train script not found at {train_py}'
    (tmp_path / 'ddp_probe.py').write_text(PROBE)

    ddp_cfg = _write_config(tmp_path, family, synthetic_data, batch=2)
    ddp_work = tmp_path / 'ddp'
    out = _run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                str(train_py), str(ddp_cfg), '--launcher', 'pytorch', '--work-dir', str(ddp_work)], tmp_path,
               '2-process torchrun training')
    assert "the process group uses the 'gloo' backend instead of env_cfg.dist_cfg.backend='nccl'" in out
    single_cfg = _write_config(tmp_path, family, synthetic_data, batch=4)
    single_work = tmp_path / 'single'
    _run([sys.executable, str(train_py), str(single_cfg), '--work-dir', str(single_work)], tmp_path,
         'single-process training')

    ranks = [_probe(ddp_work, r) for r in (0, 1)]
    (single, *_) = _probe(single_work, 0)
    first = [records[0] for records in ranks]
    assert [r['world_size'] for r in first] == [2, 2] and single['world_size'] == 1
    assert all(r['iter'] == 0 for r in first) and single['iter'] == 0
    # the same global batch: rank 0 and rank 1 together saw the single process's four samples
    assert sorted(first[0]['ids'] + first[1]['ids']) == sorted(single['ids'])
    assert len(first[0]['ids']) == len(first[1]['ids']) == 2 and len(set(single['ids'])) == 4
    ddp_loss = (first[0]['loss'] + first[1]['loss']) / 2
    diff = abs(ddp_loss - single['loss'])
    print(f'{family}: first-iteration loss DDP (mean of 2 ranks) {ddp_loss:.9g}, single process '
          f"{single['loss']:.9g}, |diff| {diff:.3g}, relative {diff / abs(single['loss']):.3g}")
    assert diff <= 1e-5 * abs(single['loss']), (ddp_loss, single['loss'])
    assert first[0]['loss'] != first[1]['loss']  # the ranks did see different samples

    checkpoint = ddp_work / 'epoch_1.pth'
    assert checkpoint.is_file(), f'no {checkpoint} after the DDP run'
    mim = mim_executable()
    test_work = tmp_path / 'test'
    test_cmd = ([mim, 'test', 'mmpose', str(single_cfg), '--gpus', '0', '--checkpoint', str(checkpoint)] if mim else
                [sys.executable, str(train_py.parent / 'test.py'), str(single_cfg), str(checkpoint)])
    test_out = _run([*test_cmd, '--work-dir', str(test_work)], tmp_path, 'single-process test of the DDP checkpoint')
    assert 'do not match exactly' not in test_out  # MMEngine's message for a partly loaded checkpoint
    metrics = [json.loads(p.read_text()) for p in test_work.glob('*/*.json')]
    assert len(metrics) == 1 and 'coco/AP' in metrics[0], test_out[-2000:]
