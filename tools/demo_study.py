"""The demo's recipe study: train the demo config under named variants
(each a set of ``--cfg-options``) and print one Markdown table of the
results, each row with the exact command that trained it.

Every variant is ``python -m mmpose_lite.demo --epochs E --cfg-options ...``
(the demo config, same seed, same synthetic data); the table is read back from
each run's ``metrics.json``, so it carries no figure a run did not write::

    python tools/demo_study.py --epochs 4 --jobs 2 --threads 1            # all variants, two at a time
    python tools/demo_study.py --epochs 12 --variants previous current   # the long comparison
    python tools/demo_study.py --epochs 4 --table-only                    # re-print the table of finished runs

With ``--jobs 2 --threads 1`` two runs share the 2 cores: AP is what matters
then (the iterations are the same); wall time and seconds per iteration are
comparable only between rows run with the same jobs and threads.
"""
import argparse
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
from typing import Dict, List

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

#: variant name -> the --cfg-options it adds to the demo config; names of the config's top-level
#: variables (``base_lr``, ``half_body_prob``, ``rotate_factor``: its ``derived_keys``) set every key made
#: from them. 'current' is the config as it is; 'previous' the COCO-like recipe the study started from.
VARIANTS: Dict[str, Dict[str, object]] = {
    'current': {},
    'previous': {'base_lr': 2e-3, 'half_body_prob': 0.3, 'rotate_factor': 40},
    'previous-lr5e-3': {'half_body_prob': 0.3, 'rotate_factor': 40},
    'lr1e-2': {'base_lr': 1e-2},
    'bs16': {'train_dataloader.batch_size': 16},
    'adamw': {'optim_wrapper.optimizer.type': 'AdamW', 'optim_wrapper.optimizer.weight_decay': 1e-4},
    # speed levers: the same recipe, a faster step?
    'bf16': {'optim_wrapper.type': 'BF16OptimWrapper'},  # CPU bf16 autocast (mmpose_lite/engine/bf16.py)
    'compile': {'compile': True},  # MMEngine compiles train_step with torch.compile (inductor)
    'workers2': {'train_dataloader.num_workers': 2},
}


def command(name: str, epochs: int, work_dir: str) -> List[str]:
    """The demo command line that trains variant ``name``."""
    options = [f'{k}={v}' for k, v in VARIANTS[name].items()]
    return ([sys.executable, '-m', 'mmpose_lite.demo', '--epochs', str(epochs), '--work-dir', work_dir] +
            (['--cfg-options', *options] if options else []))


def shown(cmd: List[str], threads: int) -> str:
    """``cmd`` as a reader would type it (``python``, no work dir, the thread setting)."""
    words = ['python'] + [w for i, w in enumerate(cmd[1:], 1) if w != '--work-dir' and cmd[i - 1] != '--work-dir']
    return (f'OMP_NUM_THREADS={threads} ' if threads else '') + shlex.join(words)


def run_all(names: List[str], epochs: int, root: str, jobs: int, threads: int) -> None:
    """Run the variants, ``jobs`` at a time, each logging to ``ROOT/NAME-eE.log``."""
    # each run makes the data if absent; runs started together into one folder are serialised by the
    # generator's lock (mmpose_lite/datasets/synthetic/atomic.py), the later ones reuse the set
    env = dict(os.environ, **({'OMP_NUM_THREADS': str(threads)} if threads else {}))
    pending, running = list(names), []
    while pending or running:
        while pending and len(running) < jobs:
            name = pending.pop(0)
            work = osp.join(root, f'{name}-e{epochs}')
            os.makedirs(work, exist_ok=True)
            log = open(work + '.log', 'w')
            print(f'[study] {name}: {shown(command(name, epochs, work), threads)} (log {log.name})', flush=True)
            running.append((name, subprocess.Popen(command(name, epochs, work), env=env, stdout=log,
                                                   stderr=subprocess.STDOUT), log))
        name, proc, log = running.pop(0)
        if proc.wait():
            print(f'[study] {name} failed (exit status {proc.returncode}): see {log.name}', file=sys.stderr)
        log.close()


def table(names: List[str], epochs: int, root: str, threads: int) -> str:
    """The Markdown table of the finished runs among ``names``."""
    rows = ['| variant | AP on synthetic val by epoch (0 = before training) | final AP | train s | s/iter '
            '(data) | command |', '|---|---|---|---|---|---|']
    for name in names:
        path = osp.join(root, f'{name}-e{epochs}', 'metrics.json')
        if not osp.isfile(path):
            rows.append(f'| {name} | (no metrics.json: not run or failed) | | | | |')
            continue
        with open(path) as f:
            m = json.load(f)
        curve = ' / '.join(f"{c['AP']:.3f}" for c in m['curve'])
        step = m.get('seconds_per_iter') or {}
        per_iter = f"{step['time']:.2f} ({step['data_time']:.2f})" if step else ''
        cmd = shown(command(name, epochs, 'W'), threads)
        rows.append(f"| {name} | {curve} | {m['ap_final']:.3f} | {m['train_seconds']:.0f} | {per_iter} | "
                    f'`{cmd}` |')
    return '\n'.join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS), metavar='NAME',
                   help=f'variants to run (default: all: {", ".join(VARIANTS)})')
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--jobs', type=int, default=1, help='runs at a time')
    p.add_argument('--threads', type=int, default=0, help='OMP_NUM_THREADS per run (0: leave as it is)')
    p.add_argument('--work-root', default='work_dirs/demo_study')
    p.add_argument('--table-only', action='store_true', help='print the table of finished runs, run nothing')
    args = p.parse_args(argv)
    if not args.table_only:
        run_all(args.variants, args.epochs, args.work_root, max(1, args.jobs), args.threads)
    print(table(args.variants, args.epochs, args.work_root, args.threads))
    return 0


if __name__ == '__main__':
    sys.exit(main())
