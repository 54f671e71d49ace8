"""A loss that becomes NaN/inf stops training at that iteration, with a
message naming it and the likely causes, and the last good checkpoint stays
``last_checkpoint`` with finite weights (no checkpoint of the broken state is
written, by iteration or at an epoch's end)."""
import re

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from mmpose_lite.engine import FiniteLossHook, NonFiniteLossError
from ..conftest import REPO


class _Toy(BaseModel):
    """A linear regression whose loss is multiplied by NaN from training
    iteration ``nan_at`` on (1-based), or whose weights are set to inf after
    the update of iteration ``break_at`` while its loss stays finite."""

    def __init__(self, nan_at=None, break_at=None):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.nan_at, self.break_at, self.steps = nan_at, break_at, 0

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs)
        if mode != 'loss':
            return out
        loss = (out - labels).square().mean()
        if self.nan_at is not None and self.steps + 1 >= self.nan_at:
            loss = loss * float('nan')
        return dict(loss=loss, loss_aux=loss.detach() * 0.5)

    def train_step(self, data, optim_wrapper):
        log_vars = super().train_step(data, optim_wrapper)
        self.steps += 1
        if self.steps == self.break_at:
            with torch.no_grad():
                self.linear.weight.fill_(float('inf'))
        return log_vars


class _Data(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        x = torch.tensor([float(i), 1.0])
        return dict(inputs=x, labels=x.sum(0, keepdim=True))


def _runner(tmp_path, model, by_epoch: bool, interval: int, max_keep_ckpts: int = -1):
    train_cfg = dict(by_epoch=True, max_epochs=3) if by_epoch else dict(by_epoch=False, max_iters=12)
    return Runner(model=model, work_dir=str(tmp_path), experiment_name=f'toy_{tmp_path.name}',
                  train_dataloader=dict(dataset=_Data(), sampler=dict(type='DefaultSampler', shuffle=False),
                                        batch_size=2, collate_fn=dict(type='default_collate')),
                  optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)), train_cfg=train_cfg,
                  default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=interval, by_epoch=by_epoch,
                                                     max_keep_ckpts=max_keep_ckpts),
                                     logger=dict(type='LoggerHook', interval=1)),
                  custom_hooks=[FiniteLossHook()], default_scope='mmengine')


def _last_checkpoint(work_dir):
    last = (work_dir / 'last_checkpoint').read_text().strip()
    state = torch.load(last, map_location='cpu', weights_only=False)['state_dict']  # our own test file
    assert all(torch.isfinite(t).all() for t in state.values())
    return last


def test_nan_loss_stops_at_that_iteration(tmp_path):
    runner = _runner(tmp_path, _Toy(nan_at=5), by_epoch=False, interval=2)
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    msg = str(err.value)
    assert isinstance(err.value, SystemExit)
    assert 'the training loss is not finite at iteration 5 (iteration-based training loop): ' in msg
    assert 'loss=nan, loss_aux=nan' in msg
    assert 'learning rate (lr=0.01) is too high for the batch size (2 per process x 1 process)' in msg
    for cause in ('clip_grad', 'fp16 overflow without loss scaling', 'AmpOptimWrapper', 'zero-area boxes'):
        assert cause in msg
    assert runner.iter == 4  # iteration 5 did not complete
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_2.pth', 'iter_4.pth']
    assert _last_checkpoint(tmp_path).endswith('iter_4.pth')
    assert f'the last good checkpoint, {tmp_path / "iter_4.pth"}, stays last_checkpoint' in msg


def test_nan_loss_stops_before_the_epoch_checkpoint(tmp_path):
    """NaN in the last batch of epoch 2: epoch_2.pth is never written."""
    runner = _runner(tmp_path, _Toy(nan_at=8), by_epoch=True, interval=1)
    with pytest.raises(NonFiniteLossError, match=r'at iteration 8 \(epoch 2, batch 4/4\)'):
        runner.train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['epoch_1.pth']
    assert _last_checkpoint(tmp_path).endswith('epoch_1.pth')


def test_nan_from_the_first_iteration(tmp_path):
    with pytest.raises(NonFiniteLossError) as err:
        _runner(tmp_path, _Toy(nan_at=1), by_epoch=False, interval=1).train()
    assert 'at iteration 1 ' in str(err.value) and 'no checkpoint had been written before' in str(err.value)
    assert not list(tmp_path.glob('*.pth'))


def test_broken_weights_are_not_saved(tmp_path):
    """The loss of iteration 3 was finite but its update made the weights
    inf: the checkpoint due then is refused, iter_2.pth stays the last."""
    runner = _runner(tmp_path, _Toy(break_at=3), by_epoch=False, interval=1, max_keep_ckpts=3)
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    msg = str(err.value)
    assert "the model's weights are not finite after iteration 3 (iteration-based training loop)" in msg
    assert 'whose loss was still finite (loss=' in msg and 'linear.weight' in msg
    assert 'The checkpoint due now is not written' in msg
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_1.pth', 'iter_2.pth']
    assert _last_checkpoint(tmp_path).endswith('iter_2.pth')


def test_finite_training_is_untouched(tmp_path):
    runner = _runner(tmp_path, _Toy(), by_epoch=False, interval=4)
    runner.train()
    assert runner.iter == 12 and _last_checkpoint(tmp_path).endswith('iter_12.pth')


def test_hook_arguments_are_checked():
    with pytest.raises(TypeError, match='check_weights must be a bool'):
        FiniteLossHook(check_weights='yes')
    assert FiniteLossHook.priority == 'HIGH'  # before CheckpointHook ('VERY_LOW')


@pytest.mark.timeout(300)
def test_pose_model_with_a_huge_learning_rate(synth, tmp_path):
    """lr=1e6 on the tiny Stacked Hourglass demo config: training stops with
    the message, and the checkpoint left as last_checkpoint is finite."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(REPO / 'configs' / 'body_2d_keypoint' / 'topdown_heatmap' / 'synthetic' /
                              'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.update(data_root=str(synth) + '/', ann_file='annotations/person_keypoints_train.json',
                                        data_prefix=dict(img='train/'))
    cfg.train_cfg = dict(by_epoch=False, max_iters=30, val_interval=1000)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.param_scheduler = []
    cfg.optim_wrapper = dict(optimizer=dict(type='SGD', lr=1e6, momentum=0.9))
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, by_epoch=False, max_keep_ckpts=-1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.custom_hooks = [dict(type='FiniteLossHook')]
    cfg.pop('runner_type', None)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    msg = str(err.value)
    stop = int(re.search(r'(?:at|after) iteration (\d+) ', msg).group(1))
    assert 'lr=1e+06' in msg and 'Likely causes' in msg
    saved = sorted(int(p.stem.split('_')[1]) for p in (tmp_path / 'work').glob('iter_*.pth'))
    assert saved == list(range(1, len(saved) + 1)) and len(saved) < stop
    if saved:
        assert _last_checkpoint(tmp_path / 'work').endswith(f'iter_{saved[-1]}.pth')
