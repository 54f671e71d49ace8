"""Crash-safe checkpoint saving: :class:`AtomicCheckpointHook`.

MMEngine 0.10.7's ``CheckpointHook`` is not safe against a kill during a
save. With ``max_keep_ckpts`` set it deletes the oldest checkpoint *before*
writing the new one (with ``max_keep_ckpts=1`` a kill then leaves nothing to
resume), writes the checkpoint file in place (a kill leaves a truncated
file), and opens ``last_checkpoint`` with ``'w'`` before writing it (a kill
leaves it empty, and ``--resume`` starts from scratch or fails although the
checkpoints are intact).

:class:`AtomicCheckpointHook` keeps MMEngine's behaviour and arguments but
orders every save so that a kill at any moment leaves a resumable run:

1. the checkpoint is written under a temporary name beside its final name
   (``.<name>.partial``), flushed to disk (``fsync``) and renamed into place
   with ``os.replace`` (atomic on POSIX and Windows);
2. ``last_checkpoint`` is written the same way (temporary file, ``fsync``,
   ``os.replace``), so it always names a complete checkpoint;
3. only then are the checkpoints beyond ``max_keep_ckpts`` deleted (and, for
   ``save_best``, the previous best checkpoint).

The checkpoints due for deletion are also recorded in the message hub
(``atomic_ckpt_pending_removal``) before the save, so a run killed between
steps 2 and 3 deletes them when it is resumed. Temporary files a killed save
left behind are never read (MMEngine's resume reads ``last_checkpoint``) and
are removed at the next save. Only the main process (rank 0) writes.

The guarantees hold for checkpoints on the local file system; for other
storage backends (``backend_args`` naming e.g. Petrel) the hook falls back to
MMEngine's behaviour and says so once in the log.

Our configs get this hook without naming it: ``LiteRunner`` builds it in
place of MMEngine's ``CheckpointHook``. It can also be named directly::

    default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook',
                                         interval=2, max_keep_ckpts=1))
"""
import os
import os.path as osp
from typing import List, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmpose.registry import HOOKS

from ..utils.files import replace_durably

__all__ = ['AtomicCheckpointHook', 'PARTIAL_SUFFIX', 'partial_path', 'write_text_durably']

#: Suffix of the temporary files a save writes before renaming them.
PARTIAL_SUFFIX = '.partial'

#: Message-hub key listing checkpoints whose deletion a save has decided but
#: maybe not done yet (a kill between the save and the deletion).
PENDING_REMOVAL_KEY = 'atomic_ckpt_pending_removal'


def partial_path(path: str) -> str:
    """The temporary name a file is written under before it replaces
    ``path``: ``<dir>/.<name>.partial`` (hidden, and not ending in ``.pth``
    so that no tool takes it for a checkpoint).

    Args:
        path: The final path.

    Returns:
        The temporary path in the same folder (so the rename is atomic).
    """
    head, tail = osp.split(path)
    return osp.join(head, f'.{tail}{PARTIAL_SUFFIX}')


def _is_partial_name(name: str) -> bool:
    return name.startswith('.') and name.endswith(PARTIAL_SUFFIX)


def write_text_durably(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` so that a kill at any moment leaves either
    the old content or the new one, never a partial file.

    Args:
        path: Destination file.
        text: Its new content (UTF-8).
    """
    tmp = partial_path(path)
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
        replace_durably(tmp, path)
    except Exception:
        _remove_quietly(tmp)
        raise


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _remove_partials(folder: str) -> None:
    """Removes temporary files a killed save left in ``folder``."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = osp.join(folder, name)
        if _is_partial_name(name) and osp.isfile(path):
            _remove_quietly(path)


def _is_local(backend) -> bool:
    # a FileClient (deprecated file_client_args) wraps its backend as .client
    return isinstance(getattr(backend, 'client', backend), LocalBackend)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's :class:`~mmengine.hooks.CheckpointHook` with crash-safe
    saves (see the module docstring for the order of the steps).

    Takes exactly ``CheckpointHook``'s arguments and keeps its behaviour:
    ``interval``, ``by_epoch``, ``filename_tmpl``, ``out_dir``,
    ``max_keep_ckpts`` (with ``keep_ckpt_ids`` in the message hub),
    ``save_best``/``rule``, ``save_last``, ``published_keys``,
    ``save_begin``. Only the order and the way of writing differ: nothing
    is deleted or overwritten before its replacement is complete on disk.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._atomic = _is_local(self.file_backend)
        if not self._atomic:
            runner.logger.warning(
                f'AtomicCheckpointHook: {self.out_dir} is not on the local '
                'file system; checkpoints are saved the way MMEngine\'s '
                'CheckpointHook saves them (not crash-safe).')
            return
        self._remove_pending(runner)

    # ---------------------------------------------------------------- saves
    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not getattr(self, '_atomic', False):
            return super()._save_checkpoint_with_step(runner, step, meta)
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            # _save_checkpoint and _save_best_checkpoint may both save this
            # step; MMEngine counts it once
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                old = self.keep_ckpt_ids.popleft()
                outdated.append(self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old)))
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        # recorded before the save, so the new checkpoint knows what it
        # replaces even if the run dies before the deletion
        pending = list(runner.message_hub.get_info(PENDING_REMOVAL_KEY) or []) + outdated
        runner.message_hub.update_info(PENDING_REMOVAL_KEY, pending)

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        self._save_atomically(
            runner, ckpt_filename, save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, **self.args)
        if is_main_process():
            write_text_durably(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        self._remove_pending(runner)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """MMEngine's best-checkpoint logic (same names, scores and message
        hub keys), with the previous best checkpoint deleted only after the
        new one is in place."""
        if not self.save_best or not getattr(self, '_atomic', False):
            return super()._save_best_checkpoint(runner, metrics)
        cur_type = 'epoch' if self.by_epoch else 'iter'
        cur_time = runner.epoch if self.by_epoch else runner.iter
        ckpt_filename = self.filename_tmpl.format(cur_time)
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [list(metrics.keys())[0]])
        single = len(self.key_indicators) == 1
        updated = False
        for key_indicator, rule in zip(self.key_indicators, self.rules):
            score = metrics[key_indicator]
            score_key = 'best_score' if single else f'best_score_{key_indicator}'
            path_key = 'best_ckpt' if single else f'best_ckpt_{key_indicator}'
            previous = self.best_ckpt_path if single else self.best_ckpt_path_dict[key_indicator]
            if score_key in runner.message_hub.runtime_info:
                best = runner.message_hub.get_info(score_key)
            else:
                best = self.init_value_map[rule]
            if score is None or not self.is_better_than[key_indicator](score, best):
                continue
            updated = True
            runner.message_hub.update_info(score_key, score)
            name = f'best_{key_indicator}_{ckpt_filename}'.replace('/', '_')
            path = self.file_backend.join_path(self.out_dir, name)
            if single:
                self.best_ckpt_path = path
            else:
                self.best_ckpt_path_dict[key_indicator] = path
            runner.message_hub.update_info(path_key, path)
            self._save_atomically(runner, name, save_optimizer=False, save_param_scheduler=False,
                                  meta=meta, by_epoch=False)
            if previous and previous != path and is_main_process() and osp.isfile(previous):
                os.remove(previous)
                runner.logger.info(f'The previous best checkpoint {previous} is removed')
            runner.logger.info(f'The best checkpoint with {score:0.4f} {key_indicator} '
                               f'at {cur_time} {cur_type} is saved to {name}.')
        # as MMEngine: save the latest checkpoint again, so that its message
        # hub names the new best checkpoint
        if updated and self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, cur_time, meta)

    def _save_atomically(self, runner, filename: str, **kwargs) -> None:
        """``runner.save_checkpoint`` into ``.<filename>.partial``, then
        renamed to ``filename`` in ``self.out_dir`` (on the main process;
        MMEngine's ``Runner.save_checkpoint`` writes only there)."""
        final = osp.join(self.out_dir, filename)
        tmp = partial_path(final)
        if is_main_process():
            _remove_partials(osp.dirname(final))
        try:
            runner.save_checkpoint(self.out_dir, osp.relpath(tmp, self.out_dir),
                                   self.file_client_args, backend_args=self.backend_args, **kwargs)
            if is_main_process():
                if not osp.isfile(tmp):
                    raise RuntimeError(
                        f'AtomicCheckpointHook: the runner wrote no checkpoint file at {tmp}; this hook '
                        f'supports checkpoints saved as one file (MMEngine\'s Runner). Use '
                        'type="CheckpointHook" for runners that save checkpoint folders.')
                replace_durably(tmp, final)
        except Exception:
            if is_main_process():
                _remove_quietly(tmp)
            raise

    # ------------------------------------------------------------- deletion
    def _kept_paths(self, runner) -> set:
        """Checkpoints that must survive: the ones ``keep_ckpt_ids`` lists,
        the last and the best ones."""
        keep = {self.last_ckpt, getattr(self, 'best_ckpt_path', None)}
        keep.update(getattr(self, 'best_ckpt_path_dict', {}).values())
        if self.max_keep_ckpts > 0:
            keep.update(self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(s))
                        for s in getattr(self, 'keep_ckpt_ids', ()))
        latest = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.isfile(latest):
            with open(latest, encoding='utf-8') as f:
                keep.add(f.read().strip())
        return {osp.abspath(p) for p in keep if p}

    def _remove_pending(self, runner) -> None:
        """Deletes (on the main process) the checkpoints recorded as due
        for removal, never one that must be kept, then clears the record
        (on every process) and removes leftover temporary files."""
        pending: List[str] = list(runner.message_hub.get_info(PENDING_REMOVAL_KEY) or [])
        if is_main_process():
            keep = self._kept_paths(runner)
            for path in pending:
                if osp.abspath(path) in keep:
                    continue
                if osp.isfile(path):
                    os.remove(path)
                elif osp.isdir(path):  # checkpoints saved by DeepSpeed are folders
                    self.file_backend.rmtree(path)
            _remove_partials(runner.work_dir)
        if pending:
            runner.message_hub.update_info(PENDING_REMOVAL_KEY, [])

    @property
    def atomic(self) -> Optional[bool]:
        """Whether saves are crash-safe (known after ``before_train``: the
        checkpoint folder is on the local file system)."""
        return getattr(self, '_atomic', None)
