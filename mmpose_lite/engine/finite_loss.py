"""Stop training when the loss stops being a number.

A run whose loss becomes NaN or infinite learns nothing more, and MMEngine
would go on to the end, saving checkpoints of broken weights that then become
``last_checkpoint``. :class:`FiniteLossHook` stops the run at the first such
iteration, before any checkpoint of it is written, with a message naming the
iteration, the loss terms and the likely causes. Our configs get it through
:class:`~mmpose_lite.engine.LiteRunner`; any config can list it in
``custom_hooks``.
"""
import math
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

__all__ = ['FiniteLossHook', 'NonFiniteLossError']


class NonFiniteLossError(SystemExit):
    """Training stopped on a non-finite loss or non-finite weights.

    A :class:`SystemExit`, so a training script ends with the message (exit
    status 1) and no traceback.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


def _finite(v) -> bool:
    if isinstance(v, torch.Tensor):
        return bool(torch.isfinite(v.detach()).all())
    return math.isfinite(float(v))


def _value(v) -> float:
    if isinstance(v, torch.Tensor):
        return float(v.detach().float().mean().item())
    return float(v)


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first iteration whose loss is NaN or infinite.

    After each training iteration every logged term whose name contains
    ``'loss'`` (MMEngine's convention: the terms summed into the loss) is
    checked. A non-finite one raises :class:`NonFiniteLossError` naming the
    iteration, the epoch, every logged value and the likely causes. The hook
    runs before MMEngine's ``CheckpointHook`` (priority ``HIGH`` against
    ``VERY_LOW``), so no checkpoint of that iteration is written, by
    iteration or at the epoch's end, and ``last_checkpoint`` keeps naming the
    last good one. In multi-process runs all processes stop together.

    An update can also break the weights while the loss it came from was
    finite; with ``check_weights=True`` the state dict of every checkpoint
    about to be written is checked too, and a non-finite tensor stops the run
    instead of being saved. (With MMEngine's own ``CheckpointHook`` and
    ``max_keep_ckpts``, an old checkpoint may already be deleted at that
    point; our configs' ``AtomicCheckpointHook`` deletes old ones only after
    the new one is written.)

    Args:
        check_weights (bool): Check checkpoints before they are written.
            Default: True.
    """
    priority = 'HIGH'

    def __init__(self, check_weights: bool = True):
        if not isinstance(check_weights, bool):
            raise TypeError(f'FiniteLossHook: check_weights must be a bool, got {check_weights!r}')
        self.check_weights = check_weights
        self._last = None  # (iteration, where, values) of the last finite iteration

    # -------------------------------------------------------------- checks
    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[dict] = None) -> None:
        if not isinstance(outputs, dict) or not outputs:
            return
        names = [k for k in outputs if 'loss' in k]
        bad = [k for k in names if not _finite(outputs[k])]
        if get_world_size() > 1:  # stop every process, not just the ones that saw it
            flag = torch.tensor([float(len(bad))])
            all_reduce(flag)
            anywhere = bool(flag.item() > 0)
        else:
            anywhere = bool(bad)
        iteration, where = runner.iter + 1, self._where(runner, batch_idx)
        values = {k: _value(v) for k, v in outputs.items() if isinstance(v, (torch.Tensor, int, float))}
        if not anywhere:
            self._last = (iteration, where, values)
            return
        if bad:
            what = f'the training loss is not finite at iteration {iteration} ({where}): {self._format(values)}'
        else:
            what = (f'the training loss is not finite at iteration {iteration} ({where}) in another process '
                    f'(here: {self._format(values)})')
        self._stop(runner, what)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.check_weights:
            return
        state = checkpoint.get('state_dict') or {}
        bad = [name for name, t in state.items()
               if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all()]
        if not bad:
            return
        shown = ', '.join(bad[:5]) + (f' and {len(bad) - 5} more' if len(bad) > 5 else '')
        if self._last is not None:
            iteration, where, values = self._last
            after = (f'after iteration {iteration} ({where}), whose loss was still finite '
                     f'({self._format(values)})')
        else:
            after = f'at iteration {runner.iter}'
        self._stop(runner, f'the model\'s weights are not finite {after}: {len(bad)} tensor(s) of the state dict, '
                   f'{shown}. The checkpoint due now is not written')

    # ------------------------------------------------------------- message
    @staticmethod
    def _where(runner, batch_idx: int) -> str:
        from mmengine.runner import IterBasedTrainLoop
        if isinstance(runner.train_loop, IterBasedTrainLoop):  # batch_idx is the iteration there
            return 'iteration-based training loop'
        try:
            per_epoch = f'/{len(runner.train_dataloader)}'
        except TypeError:
            per_epoch = ''
        return f'epoch {runner.epoch + 1}, batch {batch_idx + 1}{per_epoch}'

    @staticmethod
    def _format(values: Dict[str, float]) -> str:
        return ', '.join(f'{k}={v:.6g}' for k, v in values.items())

    @staticmethod
    def _last_checkpoint(runner) -> str:
        path = osp.join(runner.work_dir, 'last_checkpoint')
        try:
            with open(path) as f:
                last = f.read().strip()
        except OSError:
            last = ''
        if last:
            return (f'the last good checkpoint, {last}, stays last_checkpoint (resume from it with --resume once '
                    'the cause is fixed)')
        return 'no checkpoint had been written before'

    @staticmethod
    def _causes(runner) -> List[str]:
        lr, batch = 'the learning rate', 'the batch size'
        try:
            lrs = runner.optim_wrapper.get_lr()
            first = next(iter(lrs.values()))
            lr = f'the learning rate (lr={first[0]:.6g})'
        except Exception:  # noqa: BLE001 - the message stays useful without the figure
            pass
        try:
            per = runner.train_dataloader.batch_size
            world = get_world_size()
            batch = f'the batch size ({per} per process x {world} process{"es" if world > 1 else ""})'
        except Exception:  # noqa: BLE001
            pass
        try:
            from mmengine.optim import AmpOptimWrapper
            amp = isinstance(runner.optim_wrapper, AmpOptimWrapper)
        except Exception:  # noqa: BLE001
            amp = False
        fp16 = ('fp16 overflow: this run uses AmpOptimWrapper; keep loss_scale=\'dynamic\', or train in '
                'bfloat16 (dtype=\'bfloat16\') or fp32' if amp else
                'fp16 overflow without loss scaling: for half precision use AmpOptimWrapper '
                "(loss_scale='dynamic'), not a model cast to half")
        return [f'{lr} is too high for {batch}: lower it, add a warm-up (LinearLR), or set auto_scale_lr to '
                'the batch size it was tuned for',
                "exploding gradients: clip them (optim_wrapper=dict(clip_grad=dict(max_norm=...)))",
                fp16,
                'corrupt or degenerate targets: NaN/inf in the annotations, keypoints far outside the image, '
                'zero-area boxes (CheckedCocoDataset checks annotation files when they load)']

    def _stop(self, runner, what: str) -> None:
        causes = '\n'.join(f'  - {c}' for c in self._causes(runner))
        message = (f'FiniteLossHook: {what}.\nTraining stops here, before a checkpoint of this state is written; '
                   f'{self._last_checkpoint(runner)}.\nLikely causes:\n{causes}')
        runner.logger.error(message)
        raise NonFiniteLossError(message)
