"""Multi-process training on machines without CUDA (CPU DDP over gloo).

MMEngine 0.10.7 cannot start a process group on a machine without CUDA:
``mmengine.dist.init_dist`` calls ``torch.cuda.set_device`` for every
launcher ("Found no NVIDIA driver"), and ``Runner.wrap_model`` hands
``device_ids=[LOCAL_RANK]`` to ``DistributedDataParallel``, which torch
refuses for a CPU module. :class:`~mmpose_lite.engine.runner.LiteRunner` calls
the two functions of this module instead of those steps **only when CUDA is
absent**; with CUDA, MMEngine's own path runs untouched.

* :func:`init_cpu_process_group` starts the process group for the
  ``pytorch`` (``torchrun``), ``slurm`` and ``mpi`` launchers from the same
  environment variables MMEngine reads, with the ``gloo`` backend when the
  config asks for ``nccl`` (the default of MMPose's ``env_cfg``).
* :func:`wrap_cpu_ddp` wraps the model in ``MMDistributedDataParallel`` (or
  the config's ``model_wrapper_cfg``) without ``device_ids``; SyncBN layers
  become BatchNorm first, because torch's SyncBatchNorm refuses CPU tensors
  in training: a CPU run keeps per-process BatchNorm statistics.

Nothing here runs at import; the functions change only what a launched run
needs (the default process group and the launcher's environment variables,
exactly as MMEngine would).
"""
import datetime
import os
import subprocess
from typing import Optional

from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS
from torch import distributed as torch_dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ['init_cpu_process_group', 'wrap_cpu_ddp', 'CPU_BACKEND']

#: The backend a CPU process group uses when the config asks for a GPU one.
CPU_BACKEND = 'gloo'
#: Backends that need GPUs (or other accelerators); replaced by :data:`CPU_BACKEND`.
_ACCELERATOR_BACKENDS = ('nccl', 'hccl', 'cncl', 'mccl', 'smddp')


def _env_int(name: str, launcher: str, how: str) -> int:
    value = os.environ.get(name)
    if value is None:
        raise RuntimeError(f'launcher {launcher!r}: the environment variable {name} is not set; {how}')
    try:
        return int(value)
    except ValueError:
        raise RuntimeError(f'launcher {launcher!r}: the environment variable {name}={value!r} is not an '
                           f'integer; {how}') from None


def _timeout(dist_cfg: dict) -> Optional[datetime.timedelta]:
    timeout = dist_cfg.get('timeout')
    if timeout is None or isinstance(timeout, datetime.timedelta):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise TypeError(f'env_cfg.dist_cfg.timeout must be a positive number of seconds, got {timeout!r}; '
                        f"e.g. dist_cfg=dict(backend='gloo', timeout=1800)")
    return datetime.timedelta(seconds=timeout)


def _backend(dist_cfg: dict, rank: int) -> str:
    backend = dist_cfg.get('backend', 'nccl')
    if not isinstance(backend, str):
        raise TypeError(f'env_cfg.dist_cfg.backend must be a string, got {backend!r}')
    if backend.lower() in _ACCELERATOR_BACKENDS:
        if rank == 0:
            print_log(
                f'CUDA is not available: the process group uses the {CPU_BACKEND!r} backend instead of '
                f'env_cfg.dist_cfg.backend={backend!r} (CPU data-parallel training; SyncBN layers run as '
                'BatchNorm).',
                logger='current')
        return CPU_BACKEND
    if not torch_dist.is_backend_available(backend):
        raise ValueError(f'env_cfg.dist_cfg.backend={backend!r} is not available in this PyTorch build on a '
                         f"machine without CUDA; use backend='{CPU_BACKEND}'")
    return backend


def _slurm_env(dist_cfg: dict) -> None:
    """Set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
    ``MASTER_PORT`` from Slurm's variables, as MMEngine's ``_init_dist_slurm``
    does (``port`` in ``dist_cfg`` first, then ``MASTER_PORT``, then 29500;
    ``MASTER_ADDR`` kept if set, else the first host of the node list)."""
    how = 'start the job with srun (e.g. `mim train mmpose CFG --launcher slurm ...`)'
    proc_id = _env_int('SLURM_PROCID', 'slurm', how)
    ntasks = _env_int('SLURM_NTASKS', 'slurm', how)
    if 'SLURM_LOCALID' in os.environ:
        local_rank = _env_int('SLURM_LOCALID', 'slurm', how)
    else:  # MMEngine falls back to proc_id % GPUs; without GPUs: tasks per node
        per_node = int(os.environ.get('SLURM_NTASKS_PER_NODE', '1').split('(')[0] or 1)
        local_rank = proc_id % max(per_node, 1)
    port = dist_cfg.get('port')
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    else:
        os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ.get('SLURM_NODELIST')
        if not node_list:
            raise RuntimeError(f"launcher 'slurm': neither MASTER_ADDR nor SLURM_NODELIST is set; {how}")
        try:
            hosts = subprocess.run(['scontrol', 'show', 'hostname', node_list], capture_output=True, text=True,
                                   check=True).stdout.split()
        except (OSError, subprocess.CalledProcessError) as err:
            raise RuntimeError(f"launcher 'slurm': could not resolve the master host from SLURM_NODELIST="
                               f'{node_list!r} with `scontrol show hostname` ({err}); set MASTER_ADDR') from None
        if not hosts:
            raise RuntimeError(f"launcher 'slurm': `scontrol show hostname {node_list}` printed no host; "
                               'set MASTER_ADDR')
        os.environ['MASTER_ADDR'] = hosts[0]
    os.environ['WORLD_SIZE'] = str(ntasks)
    os.environ['LOCAL_RANK'] = str(local_rank)
    os.environ['RANK'] = str(proc_id)


def _mpi_env() -> None:
    """Set ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from Open MPI's variables
    (as MMEngine's ``_init_dist_mpi``); ``MASTER_ADDR`` must be set."""
    how = 'start the job with mpirun and export MASTER_ADDR (and MASTER_PORT, default 29500)'
    rank = _env_int('OMPI_COMM_WORLD_RANK', 'mpi', how)
    size = _env_int('OMPI_COMM_WORLD_SIZE', 'mpi', how)
    local = _env_int('OMPI_COMM_WORLD_LOCAL_RANK', 'mpi', how)
    if 'MASTER_ADDR' not in os.environ:
        raise RuntimeError(f"launcher 'mpi': the environment variable MASTER_ADDR is not set; {how}")
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(local))


def init_cpu_process_group(launcher: str, dist_cfg: Optional[dict] = None) -> None:
    """Start the default process group of a launched run on a machine
    without CUDA, where ``mmengine.dist.init_dist`` fails.

    It reads the launcher's environment exactly as MMEngine does and calls
    ``torch.distributed.init_process_group`` (``env://``), without
    ``torch.cuda.set_device``. Call it only when CUDA is absent.

    Args:
        launcher (str): ``'pytorch'`` (``torchrun``: ``RANK``,
            ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``),
            ``'slurm'`` (``SLURM_PROCID``, ``SLURM_NTASKS``,
            ``SLURM_LOCALID``, ``SLURM_NODELIST``; ``MASTER_ADDR`` and
            ``MASTER_PORT`` set as MMEngine sets them) or ``'mpi'``
            (``OMPI_COMM_WORLD_*`` and ``MASTER_ADDR``).
        dist_cfg (dict, optional): The config's ``env_cfg.dist_cfg``:
            ``backend`` (a GPU backend such as the default ``'nccl'`` becomes
            ``'gloo'``, logged), ``timeout`` (seconds), ``port`` (Slurm),
            ``init_backend`` (only ``'torch'``: DeepSpeed/ColossalAI need
            GPUs); other keys go to ``init_process_group``.

    Raises:
        ValueError: An unknown launcher or an unusable backend.
        RuntimeError: The launcher's environment variables are missing, or
            a process group is already running.
    """
    dist_cfg = dict(dist_cfg or {})
    if launcher not in ('pytorch', 'slurm', 'mpi'):
        raise ValueError(f"unknown launcher {launcher!r}; use 'pytorch' (torchrun), 'slurm' or 'mpi'")
    if torch_dist.is_initialized():
        raise RuntimeError('init_cpu_process_group: a process group is already initialized in this process')
    init_backend = dist_cfg.pop('init_backend', 'torch')
    if init_backend != 'torch':
        raise ValueError(f"env_cfg.dist_cfg.init_backend={init_backend!r} needs GPUs; on a machine without CUDA "
                         "only 'torch' is supported")
    timeout = _timeout(dist_cfg)
    kwargs = {k: v for k, v in dist_cfg.items() if k not in ('backend', 'timeout', 'port')}
    if timeout is not None:
        kwargs['timeout'] = timeout
    if launcher == 'slurm':
        _slurm_env(dist_cfg)
    elif launcher == 'mpi':
        _mpi_env()
    how = 'start the script with torchrun (or `mim train mmpose CFG --launcher pytorch --gpus N`)'
    rank = _env_int('RANK', launcher, how)
    world_size = _env_int('WORLD_SIZE', launcher, how)
    _env_int('LOCAL_RANK', launcher, how)
    backend = _backend(dist_cfg, rank)
    missing = [name for name in ('MASTER_ADDR', 'MASTER_PORT') if name not in os.environ]
    if missing and 'init_method' not in kwargs:
        raise RuntimeError(f'launcher {launcher!r}: the environment variables {missing} are not set; {how}')
    torch_dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **kwargs)


def wrap_cpu_ddp(model: nn.Module, cfg) -> nn.Module:
    """Wrap ``model`` for data-parallel training on CPU processes.

    The counterpart of the distributed branch of MMEngine's
    ``Runner.wrap_model`` for a process group without CUDA: SyncBN layers
    (whether built with ``norm_cfg=dict(type='SyncBN')`` or requested by
    ``cfg.sync_bn``) are reverted to BatchNorm, since torch's SyncBatchNorm
    raises on CPU tensors in training (each process keeps its own batch
    statistics, as in single-process training); then the model is wrapped
    without ``device_ids``.

    Args:
        model (nn.Module): The model (not yet wrapped), moved to the CPU.
        cfg (dict | Config): The run's config: ``model_wrapper_cfg`` (built
            from ``MODEL_WRAPPERS`` with ``module=model``, no ``device_ids``),
            else ``MMDistributedDataParallel`` with
            ``broadcast_buffers=False`` and ``cfg.find_unused_parameters``
            (default False), as MMEngine's default.

    Returns:
        nn.Module: The wrapped model.
    """
    model = model.to('cpu')
    has_sync_bn = any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    if has_sync_bn or cfg.get('sync_bn') is not None:
        print_log('CPU data-parallel training: SyncBN is not supported by torch on the CPU, so the model keeps '
                  'BatchNorm layers (per-process statistics)' +
                  (f"; cfg.sync_bn={cfg.get('sync_bn')!r} is ignored" if cfg.get('sync_bn') is not None else ''),
                  logger='current')
        model = revert_sync_batchnorm(model)
    wrapper_cfg = cfg.get('model_wrapper_cfg')
    if wrapper_cfg is None:
        return MMDistributedDataParallel(
            module=model,
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_cfg = dict(wrapper_cfg)
    wrapper_cfg.setdefault('type', 'MMDistributedDataParallel')
    wrapper_type = MODEL_WRAPPERS.get(wrapper_cfg['type']) if isinstance(wrapper_cfg['type'], str) \
        else wrapper_cfg['type']
    if wrapper_type is None:
        raise KeyError(f"model_wrapper_cfg.type={wrapper_cfg['type']!r} is not a registered model wrapper; "
                       f'valid types: {sorted(MODEL_WRAPPERS.module_dict)}')
    if isinstance(wrapper_type, type) and issubclass(wrapper_type, DistributedDataParallel) \
            and wrapper_cfg.get('device_ids') is not None:
        raise ValueError(f"model_wrapper_cfg.device_ids={wrapper_cfg['device_ids']!r}: a CPU model takes no "
                         'device_ids; remove the key (CUDA is not available)')
    return MODEL_WRAPPERS.build(wrapper_cfg, default_args=dict(module=model))
