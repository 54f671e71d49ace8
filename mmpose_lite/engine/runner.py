"""``LiteRunner``: MMEngine's Runner with the safeguards our configs ask for.

Our configs select it with ``runner_type = 'LiteRunner'`` (through the shared
base ``configs/_base_/mmpose_lite.py``); MMPose's ``tools/train.py`` and
``tools/test.py`` (what ``mim train/test mmpose`` run) then build it instead
of the plain Runner. Nothing changes for configs that do not select it, and
importing this module changes nothing global. What it adds:

* **Data first.** The files every dataloader's dataset points to are checked
  before the Runner logs its environment and config, so a missing data set
  is the first (and only) thing the user reads; MMPose's ``CocoDataset`` is
  built as :class:`~mmpose_lite.datasets.CheckedCocoDataset`, which validates
  the annotation and detection files as it loads them.
* **Safe, crash-proof checkpoints.** MMEngine's ``CheckpointHook`` is built as
  :class:`~mmpose_lite.engine.AtomicCheckpointHook` (same arguments: write to
  a temporary name, rename into place, delete old checkpoints last), and
  :class:`~mmpose_lite.engine.SafeCheckpointHook` stores the Runner's state as
  plain data, so checkpoints load with ``torch.load(weights_only=True)``.
* **Training stops on a non-finite loss** (:class:`FiniteLossHook`) before a
  broken checkpoint replaces the last good one.
* **Honest loading.** ``test()``/``val()`` load ``load_from`` strictly: a
  checkpoint that does not fit the model stops with the keys and shapes
  named (``load_strict=False`` in the config restores MMEngine's partial
  loading). Training's ``load_from`` stays partial, for fine-tuning, and says
  what was not loaded. A checkpoint refused by torch's weights-only unpickler
  is reported with its file name and how to load a file one trusts.
* **Multi-process training on CPUs.** With a launcher (``torchrun``, Slurm)
  and no CUDA, the process group is started with gloo and the model wrapped
  in DDP without device ids; with CUDA, MMEngine's own path runs untouched.
* **DataLoader workers exit with their parent**, so a killed run leaves no
  orphaned worker behind.
"""
import copy
import os.path as osp
import pickle
from typing import Dict, List, Optional, Union

import torch
from mmengine.dist import is_distributed
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmpose.registry import RUNNERS

from ..datasets.errors import HELP, CorruptImageError, MissingDataError
from ..datasets.validation import missing_files
from ..models.strict_load import allow_partial_load
from ..utils.checkpoint import describe_mismatch
from .dist import init_cpu_process_group, wrap_cpu_ddp
from .safe_checkpoint import explain_unsafe
from .workers import worker_exit_with_parent

__all__ = ['LiteRunner', 'check_data_files']

#: MMPose datasets built as their checked versions (same arguments, files and
#: annotations validated when the dataset loads; the dumped config shows it).
CHECKED_DATASETS = {'CocoDataset': 'CheckedCocoDataset'}

#: Hooks every LiteRunner run gets unless its config already lists them.
DEFAULT_CUSTOM_HOOKS = ('SafeCheckpointHook', 'FiniteLossHook')


def _dataset_cfgs(cfg):
    """(name, dataset config) of each dataloader the config defines, looking
    through dataset wrappers (``dataset=dict(type=..., dataset=...)``,
    ``datasets=[...]``)."""
    found = []
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(split)
        todo = [loader.get('dataset')] if isinstance(loader, dict) else []
        while todo:
            ds = todo.pop()
            if not isinstance(ds, dict):
                continue
            if 'ann_file' in ds:
                found.append((split, ds))
            todo.extend([ds.get('dataset')] + list(ds.get('datasets') or []))
    return found


def check_data_files(cfg) -> None:
    """Raise :class:`MissingDataError` naming every missing data file of the
    config's dataloaders (annotation file, image folder, ``bbox_file``).

    The training split is left to the dataset when ``load_from`` is set:
    MMPose's test script sets it, and evaluating on COCO val needs no
    train2017 (a fine-tuning run still gets the dataset's own message).
    """
    missing = {}
    for split, ds in _dataset_cfgs(cfg):
        if split == 'train_dataloader' and cfg.get('load_from'):
            continue
        prefix = ds.get('data_prefix') or {}
        img_dir = prefix.get('img', '') if isinstance(prefix, dict) else ''
        for what, path in missing_files(ds.get('ann_file') or '', ds.get('data_root'), img_dir, ds.get('bbox_file')):
            missing.setdefault((what, path), []).append(split)
    if missing:
        lines = '\n'.join(f'  - {what} ({", ".join(splits)}): {path} (absolute: {osp.abspath(path)})'
                          for (what, path), splits in missing.items())
        raise MissingDataError(f'COCO-style data not found:\n{lines}\n\n{HELP["COCO"]}')


@RUNNERS.register_module()
class LiteRunner(Runner):
    """MMEngine's :class:`~mmengine.runner.Runner` with the safeguards listed
    in this module's docstring. Same arguments; the config key
    ``load_strict`` (default ``True``) sets how ``test()``/``val()`` load."""

    @classmethod
    def from_cfg(cls, cfg) -> 'LiteRunner':
        cfg = copy.deepcopy(cfg)
        check_data_files(cfg)
        for _, dataset in _dataset_cfgs(cfg):
            if dataset.get('type') in CHECKED_DATASETS:
                dataset['type'] = CHECKED_DATASETS[dataset['type']]
        return super().from_cfg(cfg)

    # ------------------------------------------------------------ processes
    def setup_env(self, env_cfg: Dict) -> None:
        if self.distributed and not is_distributed() and not torch.cuda.is_available():
            init_cpu_process_group(self.launcher, env_cfg.get('dist_cfg', {}))
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict], model):
        if self.distributed and not torch.cuda.is_available() and not is_model_wrapper(model):
            return wrap_cpu_ddp(model, self.cfg)
        return super().wrap_model(model_wrapper_cfg, model)

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        loader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        if isinstance(dataloader, dict) and getattr(loader, 'num_workers', 0) > 0:
            loader.worker_init_fn = worker_exit_with_parent(loader.worker_init_fn)
        return loader

    def build_visualizer(self, visualizer=None):
        """MMEngine's, but a second Runner in one process gets its own
        visualizer: MMPose's configs name it ``'visualizer'``, and MMEngine
        builds a named visualizer through ``get_instance``, which would hand
        back the first run's, writing this run's logs into that run's folder."""
        if isinstance(visualizer, dict) and isinstance(visualizer.get('name'), str):
            from mmpose.registry import VISUALIZERS
            cls = VISUALIZERS.get(visualizer.get('type', 'Visualizer'))
            if cls is not None and hasattr(cls, 'check_instance_created') and \
                    cls.check_instance_created(visualizer['name']):
                visualizer = dict(visualizer, name=f"{visualizer['name']}_{self._experiment_name}")
        return super().build_visualizer(visualizer)

    # ---------------------------------------------------------------- hooks
    def register_default_hooks(self, hooks: Optional[Dict[str, Union[Hook, Dict]]] = None) -> None:
        hooks = dict(hooks or {})
        ckpt = hooks.get('checkpoint', dict(type='CheckpointHook', interval=1))
        if isinstance(ckpt, dict) and ckpt.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook'):
            hooks['checkpoint'] = dict(ckpt, type='AtomicCheckpointHook')
        super().register_default_hooks(hooks)

    def register_custom_hooks(self, hooks: List[Union[Hook, Dict]]) -> None:
        hooks = list(hooks)
        present = {h.get('type') if isinstance(h, dict) else type(h).__name__ for h in hooks}
        hooks += [dict(type=name) for name in DEFAULT_CUSTOM_HOOKS if name not in present]
        super().register_custom_hooks(hooks)

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        # MMEngine skips register_custom_hooks when the config has none.
        super().register_hooks(default_hooks, list(custom_hooks or []))

    # -------------------------------------------------------------- loading
    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):
        """MMEngine's ``load_checkpoint``; then, if the checkpoint does not
        fit the model, stop (``strict``) or say what was not loaded."""
        try:
            with allow_partial_load():
                checkpoint = super().load_checkpoint(filename, map_location, strict=False,
                                                     revise_keys=revise_keys)
        except pickle.UnpicklingError as e:
            raise UnsafeCheckpointExit(str(explain_unsafe(filename, e))) from None
        model = self.model.module if is_model_wrapper(self.model) else self.model
        problem = describe_mismatch(model, _state_of(checkpoint, revise_keys), filename)
        if problem and strict:
            raise MismatchedCheckpointExit(problem + '\n  To load what fits anyway, add '
                                           '--cfg-options load_strict=False.')
        if problem:
            self.logger.warning(problem + '\n  Loaded what fits (load_from for fine-tuning); '
                                'the rest keeps its initialisation.')
        return checkpoint

    def train(self):
        return self._run(super().train)

    def test(self) -> dict:
        return self._run(super().test, evaluation=True)

    def val(self) -> dict:
        return self._run(super().val, evaluation=True)

    def _run(self, run, evaluation=False):
        if evaluation and self._load_from is not None and not self._resume and self.cfg.get('load_strict', True):
            self._load_strictly = True
        try:
            return run()
        except CorruptImageError as e:
            # raised in a DataLoader worker: end the run with the message alone
            raise e.as_exit() from None

    def load_or_resume(self) -> None:
        if getattr(self, '_load_strictly', False) and not self._has_loaded:
            self._has_loaded = True
            self.load_checkpoint(self._load_from, strict=True)
            return
        super().load_or_resume()



class _MessageExit(SystemExit):
    """Ends a run with its message alone (exit status 1, no traceback)."""

    def __str__(self):
        return str(self.code)


class MismatchedCheckpointExit(_MessageExit):
    """A checkpoint that does not fit the model of an evaluation run."""


class UnsafeCheckpointExit(_MessageExit):
    """A checkpoint refused by torch's weights-only unpickler (see
    :class:`~mmpose_lite.engine.UnsafeCheckpointError` for the message)."""


def _state_of(checkpoint, revise_keys=((r'^module.', ''),)):
    import re
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
    for pattern, repl in revise_keys:
        state = {re.sub(pattern, repl, k): v for k, v in state.items()}
    return state
