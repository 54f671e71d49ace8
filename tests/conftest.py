import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get('MMPOSE_LITE_SHARED_DATA', REPO.parent / 'shared' / 'data'))


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


def mim_executable():
    """The ``mim`` command of this interpreter's environment, or None."""
    import shutil
    import sys
    mim = os.path.join(os.path.dirname(sys.executable), 'mim')
    return mim if os.path.exists(mim) else shutil.which('mim')


def mim_train_and_test(config, tmp_path, num_train=8, num_val=4, extra_train_opts=()):
    """``mim train mmpose`` one epoch of ``config`` on freshly generated
    synthetic data, then ``mim test mmpose`` on its checkpoint, both from the
    repository root with the data paths overridden (so COCO configs run on
    the synthetic data too). Asserts both succeed.

    Returns:
        tuple: ``(work_dir, train_output, test_output)``.
    """
    import subprocess

    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    mim = mim_executable()
    if mim is None:
        pytest.skip('the mim command is not installed')
    data = tmp_path / 'synth'
    generate_synthetic_coco(str(data), num_train=num_train, num_val=num_val, seed=0)
    ann = data / 'annotations'
    loader = ['batch_size=4', 'num_workers=0', 'persistent_workers=False']
    evaluation = []
    for split in ('val', 'test'):
        evaluation += [f'{split}_dataloader.{kv}' for kv in loader]
        evaluation += [f'{split}_dataloader.dataset.data_root={data}/',
                       f'{split}_dataloader.dataset.ann_file=annotations/person_keypoints_val.json',
                       f'{split}_dataloader.dataset.data_prefix.img=val/',
                       f'{split}_dataloader.dataset.bbox_file={ann}/person_detection_results_val.json',
                       f'{split}_evaluator.ann_file={ann}/person_keypoints_val.json']
    training = [f'train_dataloader.{kv}' for kv in loader] + [
        f'train_dataloader.dataset.data_root={data}/',
        'train_dataloader.dataset.ann_file=annotations/person_keypoints_train.json',
        'train_dataloader.dataset.data_prefix.img=train/', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1', 'randomness.seed=0',
        *extra_train_opts]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
    run = dict(cwd=REPO, env=env, capture_output=True, text=True, timeout=500)
    work = tmp_path / 'work'
    train = subprocess.run([mim, 'train', 'mmpose', str(config), '--gpus', '0', '--work-dir', str(work),
                            '--cfg-options', *training, *evaluation], **run)
    train_out = train.stdout + train.stderr
    assert train.returncode == 0, train_out[-3000:]
    checkpoint = work / 'epoch_1.pth'
    assert checkpoint.is_file(), f'no {checkpoint} after training'
    test = subprocess.run([mim, 'test', 'mmpose', str(config), '--checkpoint', str(checkpoint), '--gpus', '0',
                           '--work-dir', str(tmp_path / 'test'), '--cfg-options', *evaluation], **run)
    test_out = test.stdout + test.stderr
    assert test.returncode == 0, test_out[-3000:]
    return work, train_out, test_out


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


def randomize_(model, std=0.3):
    """Random weights and BN statistics (in place), so that equal outputs mean something."""
    import torch
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in sorted(model.state_dict().items()):
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.5 if 'running_var' in name else
                        torch.randn(t.shape, generator=g) * std)
    return model


def n_params(model):
    return sum(p.numel() for p in model.parameters())
