"""Helpers shared by the whole suite (written once here, imported by the test modules).

* :func:`randomize_`: random weights and normalisation statistics from a local generator.
* :func:`assert_same_outputs_and_grads`: two models with equal weights train alike.
* :func:`checkpoint_calls` (fixture): counts the calls into ``torch.utils.checkpoint``.
* :func:`rng` (fixture): a ``torch.Generator`` of the test's own; :func:`_isolated_global_rng`
  seeds the global generator per test and restores it afterwards, so no case depends on the
  cases that ran before it.
* :func:`mim_train_and_test`: ``mim train``/``mim test`` one epoch on synthetic data, returning
  what the runs wrote (:class:`MimRun`).
* :func:`tiny_hrnet_extra`, :data:`TINY_RESNET`: the smallest MMPose HRNet/ResNet settings.
* :func:`all_subclasses`, :func:`n_params`, :func:`shared_data` (real sample data or a skip).
"""
import glob
import importlib.util
import json
import os
from pathlib import Path
from typing import Dict, List, NamedTuple

import pytest
import torch
from mmengine.model import BaseModel
from torch import nn

REPO = Path(__file__).resolve().parents[1]


def cfg_value(cfg, dotted: str):
    """The value at a ``--cfg-options`` key of ``cfg`` (list items by index)."""
    node = cfg
    for part in dotted.split('.'):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def load_tool(name: str):
    """The script ``tools/<name>.py`` imported as a module (tools are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f'{name}_tool', REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
SHARED_DATA = Path(os.environ.get('MMPOSE_LITE_SHARED_DATA', REPO.parent / 'shared' / 'data'))

#: MMPose ``ResNet`` keyword arguments for a two-stage, 8-channel network.
TINY_RESNET = dict(stem_channels=8, base_channels=8, num_stages=2, strides=(1, 2), dilations=(1, 1),
                   out_indices=(0, 1))


def tiny_hrnet_extra(block: str = 'BOTTLENECK', multiscale: bool = False) -> dict:
    """MMPose ``HRNet``'s ``extra`` for a four-stage network of 8/16 channels,
    one module of one block per branch.

    Args:
        block (str): Block type of stage 1 (``'BOTTLENECK'`` or ``'BASIC'``).
        multiscale (bool): Whether stage 4 returns every branch.
    """
    def stage(n, b, ch):
        return dict(num_modules=1, num_branches=n, block=b, num_blocks=(1, ) * n, num_channels=ch)
    return dict(stage1=stage(1, block, (8, )), stage2=stage(2, 'BASIC', (8, 16)),
                stage3=stage(3, 'BASIC', (8, 16, 16)),
                stage4=dict(stage(4, 'BASIC', (8, 16, 16, 16)), multiscale_output=multiscale))


def shared_data(name: str) -> Path:
    """``../shared/data/<name>``, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f'real sample data {path} is absent (it sits beside the checkout as ../shared/data in CI; '
                    'set MMPOSE_LITE_SHARED_DATA to point elsewhere)')
    return path


@pytest.fixture(scope='session', autouse=True)
def _registered():
    from mmpose.utils import register_all_modules
    register_all_modules()
    import mmpose_lite  # noqa: F401


@pytest.fixture(autouse=True)
def _isolated_global_rng():
    """Seed torch's global generator (which module constructors draw their
    initial weights from) for this test only, and restore it afterwards."""
    import torch
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


@pytest.fixture
def rng():
    """A ``torch.Generator`` of this test's own (seed 0), for its inputs."""
    import torch
    return torch.Generator().manual_seed(0)


@pytest.fixture
def checkpoint_calls(monkeypatch):
    """The list that gets one entry per call of ``torch.utils.checkpoint.checkpoint``
    during the test (our blocks and MMPose's call it through the module)."""
    import torch.utils.checkpoint as cp
    calls = []
    real = cp.checkpoint

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cp, 'checkpoint', counted)
    return calls


def randomize_(module, std: float = 0.3, seed: int = 1, only=None, norm_weight=None):
    """Give ``module`` random weights and normalisation statistics, in place,
    so that equal outputs of two computations mean something.

    Values come from a generator of the call's own, in the order of the
    sorted state-dict names, so the same call gives the same values. Every
    floating-point tensor of the state dict is drawn from ``N(0, std)``,
    except BatchNorm running variances, drawn from
    ``U(0.5, 1)``; fixed (non-persistent) buffers are left alone.

    Args:
        module (nn.Module): The module to change.
        std (float): Standard deviation of the normal draws.
        seed (int): Seed of the generator.
        only (type | tuple[type], optional): Change only the tensors owned
            directly by submodules of these types (e.g. ``_BatchNorm``).
        norm_weight (tuple[float, float], optional): Draw the scales of
            normalisation layers from ``U(low, high)`` instead (keeps deep
            eval-mode outputs from vanishing when only norms are changed).

    Returns:
        nn.Module: ``module``.
    """
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm
    from torch.nn.modules.normalization import GroupNorm, LayerNorm
    norms = (_BatchNorm, GroupNorm, LayerNorm)
    g = torch.Generator().manual_seed(seed)
    owned = []
    for prefix, m in module.named_modules():
        if only is not None and not isinstance(m, only):
            continue
        # what the state dict holds: parameters and persistent buffers (a fixed, non-persistent buffer stays)
        tensors = list(m._parameters.items()) + [
            (n, t) for n, t in m._buffers.items() if n not in m._non_persistent_buffers_set]
        owned += [(f'{prefix}.{n}' if prefix else n, m, n, t) for n, t in tensors
                  if t is not None and t.is_floating_point()]
    with torch.no_grad():
        for _, m, name, t in sorted(owned, key=lambda item: item[0]):
            if name == 'running_var':
                value = torch.rand(t.shape, generator=g) * 0.5 + 0.5
            elif norm_weight is not None and name == 'weight' and isinstance(m, norms):
                low, high = norm_weight
                value = torch.rand(t.shape, generator=g) * (high - low) + low
            else:
                value = torch.randn(t.shape, generator=g) * std
            t.copy_(value)
    return module


def all_subclasses(cls) -> set:
    """Every subclass of ``cls``, at any depth (for guards that every class of a kind has test cases)."""
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | all_subclasses(sub)
    return found


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def assert_same_outputs_and_grads(plain, ckpt, x, relative=False):
    """Train-mode forward + backward of two models with equal weights (e.g.
    ``with_cp`` off and on) give equal outputs, input gradients and
    parameter gradients. ``relative``: tolerances scaled to the values (for
    deep models where recomputation reorders float sums)."""
    import torch

    def close(a, b, msg=None):
        if relative:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * max(1.0, a.abs().max().item()), msg=msg)
        else:
            torch.testing.assert_close(a, b, msg=msg)
    results = []
    for model in (plain, ckpt):
        model.train()
        xi = x.clone().requires_grad_()
        outs = model(xi)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        sum(o.square().sum() for o in outs).backward()
        results.append((outs, xi.grad, {n: p.grad for n, p in model.named_parameters()}))
    (o1, gx1, g1), (o2, gx2, g2) = results
    assert len(o1) == len(o2)
    for a, b in zip(o1, o2):
        close(a, b)
    close(gx1, gx2)
    assert set(g1) == set(g2)
    for name in g1:
        close(g1[name], g2[name], msg=name)


# ------------------------------------------------------------------------------------------- mim runs


def process_running(pid: int) -> bool:
    """Process ``pid`` is alive and not a zombie waiting to be reaped (Linux ``/proc``)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


class ToyModel(BaseModel):
    """A linear model of 4 inputs, the same weights in every run; ``mode='loss'``
    gives the squared error. For Runner tests that need a model, not a pose model."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)
        g = torch.Generator().manual_seed(1)   # the same start in every run
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return {'loss': (out - torch.stack(targets)).square().mean()}
        return out


def toy_model_cfg() -> dict:
    """A model config naming :class:`ToyModel` (registered in MMPose's MODELS on first use)."""
    from mmpose.registry import MODELS
    if '_MmposeLiteTestToy' not in MODELS.module_dict:
        MODELS.register_module(name='_MmposeLiteTestToy', module=ToyModel)
    return dict(type='_MmposeLiteTestToy')


def mim_executable():
    """The ``mim`` command of this interpreter's environment, or None."""
    import shutil
    import sys
    mim = os.path.join(os.path.dirname(sys.executable), 'mim')
    return mim if os.path.exists(mim) else shutil.which('mim')


class MimRun(NamedTuple):
    """What ``mim train`` + ``mim test`` wrote.

    Attributes:
        work_dir (Path): The training work dir.
        config (Path): The config the training run dumped into ``work_dir``.
        checkpoint (Path): The checkpoint of epoch 1.
        train_log (list[dict]): The training run's scalar records
            (``vis_data/scalars.json``): one per logged iteration (``loss``,
            ``loss_kpt``, ``step`` = iteration) and one per validation
            (``coco/AP``, ..., ``step`` = epoch).
        test_metrics (dict): The metrics the test run wrote
            (``<timestamp>/<timestamp>.json`` of its work dir).
    """
    work_dir: Path
    config: Path
    checkpoint: Path
    train_log: List[dict]
    test_metrics: Dict[str, float]


def _only(pattern: str) -> Path:
    found = glob.glob(pattern)
    assert len(found) == 1, f'expected one file matching {pattern}, found {found}'
    return Path(found[0])


LOADER_OPTIONS = ('batch_size=4', 'num_workers=0', 'persistent_workers=False')


def synthetic_eval_options(data: Path) -> List[str]:
    """``--cfg-options`` entries that point a config's val/test loaders and
    evaluators at the synthetic data set generated in ``data``."""
    ann = data / 'annotations'
    options = []
    for split in ('val', 'test'):
        options += [f'{split}_dataloader.{kv}' for kv in LOADER_OPTIONS]
        options += [f'{split}_dataloader.dataset.data_root={data}/',
                    f'{split}_dataloader.dataset.ann_file=annotations/person_keypoints_val.json',
                    f'{split}_dataloader.dataset.data_prefix.img=val/',
                    f'{split}_dataloader.dataset.bbox_file={ann}/person_detection_results_val.json',
                    f'{split}_evaluator.ann_file={ann}/person_keypoints_val.json']
    return options


def mim_train_and_test(config, tmp_path, num_train=8, num_val=4, extra_train_opts=()) -> MimRun:
    """``mim train mmpose`` one epoch of ``config`` on freshly generated
    synthetic data, then ``mim test mmpose`` on its checkpoint, both from the
    repository root with the data paths overridden (so COCO configs run on
    the synthetic data too). Asserts both exit 0 (showing the output's tail
    otherwise) and wrote their files.

    Returns:
        MimRun: The files and records the runs wrote.
    """
    import subprocess

    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    mim = mim_executable()
    if mim is None:
        pytest.skip('the mim command is not installed')
    data = tmp_path / 'synth'
    generate_synthetic_coco(str(data), num_train=num_train, num_val=num_val, seed=0)
    evaluation = synthetic_eval_options(data)
    training = [f'train_dataloader.{kv}' for kv in LOADER_OPTIONS] + [
        f'train_dataloader.dataset.data_root={data}/',
        'train_dataloader.dataset.ann_file=annotations/person_keypoints_train.json',
        'train_dataloader.dataset.data_prefix.img=train/', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1', 'randomness.seed=0',
        *extra_train_opts]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
    run = dict(cwd=REPO, env=env, capture_output=True, text=True, timeout=500)
    work, test_dir = tmp_path / 'work', tmp_path / 'test'
    train = subprocess.run([mim, 'train', 'mmpose', str(config), '--gpus', '0', '--work-dir', str(work),
                            '--cfg-options', *training, *evaluation], **run)
    assert train.returncode == 0, (train.stdout + train.stderr)[-3000:]
    checkpoint = work / 'epoch_1.pth'
    assert checkpoint.is_file(), f'no {checkpoint} after training'
    test = subprocess.run([mim, 'test', 'mmpose', str(config), '--checkpoint', str(checkpoint), '--gpus', '0',
                           '--work-dir', str(test_dir), '--cfg-options', *evaluation], **run)
    assert test.returncode == 0, (test.stdout + test.stderr)[-3000:]
    scalars = _only(str(work / '*' / 'vis_data' / 'scalars.json'))
    train_log = [json.loads(line) for line in scalars.read_text().splitlines() if line.strip()]
    test_metrics = json.loads(_only(str(test_dir / '*' / '*.json')).read_text())
    return MimRun(work, work / Path(config).name, checkpoint, train_log, test_metrics)


def assert_trained_and_evaluated(run: MimRun):
    """The records of a :func:`mim_train_and_test` run show a whole epoch:
    a finite ``loss_kpt`` for every iteration (the logger logs each one),
    then a validation with ``coco/AP`` in [0, 1]; and the test run wrote
    ``coco/AP`` in [0, 1]. Returns the model built from the dumped config
    with the checkpoint loaded strictly (every key, every shape)."""
    import math

    from mmengine.config import Config
    from mmpose.registry import MODELS

    from mmpose_lite.utils.checkpoint import load_weights

    losses = [r for r in run.train_log if 'loss_kpt' in r]
    assert losses and [r['step'] for r in losses] == list(range(1, len(losses) + 1)), run.train_log
    assert all(math.isfinite(r['loss_kpt']) for r in losses), losses
    vals = [r for r in run.train_log if 'coco/AP' in r]  # epoch 0 too where ValidateBeforeTrainHook runs
    assert vals and vals[-1]['step'] == 1 and all(0 <= r['coco/AP'] <= 1 for r in vals), vals
    ap = run.test_metrics['coco/AP']
    assert isinstance(ap, float) and 0 <= ap <= 1, run.test_metrics
    cfg = Config.fromfile(str(run.config))
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    load_weights(model, str(run.checkpoint), strict=True)
    return model
