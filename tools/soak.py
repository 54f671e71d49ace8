"""Memory soak: does the resident memory stay flat over many forwards and
training iterations?

For each model (built from its config, the whole top-down pose estimator:
backbone, neck, head), in a fresh process of its own:

1. batch-1 eval forwards (``torch.no_grad``): ``--warmup`` of them (twice,
   see :func:`_phase`), then ``--forwards`` between two RSS readings;
2. training iterations (a new random input each time, MSE to a fixed random
   target, a small SGD step with momentum): ``--warmup`` (twice), then
   ``--train-iters`` between two RSS readings.

RSS is ``VmRSS`` of ``/proc/self/status``, read after ``gc.collect()``. The
table gives each phase's RSS growth after its warm-up against the targets:
< 5 MB over 1000 forwards and < 20 MB over 200 training iterations (absolute
bounds: a shorter run is held to the same ones). The ``live`` columns give the
growth of the memory still in use, read after glibc's ``malloc_trim(0)``
returned the allocator's free blocks: plain RSS also moves with the blocks
the allocator keeps for reuse, a leak shows in both.

    python tools/soak.py                                  # all families, 1000 forwards, 200 iterations
    python tools/soak.py --models XHRNet-S18 --threads 2 --size 128 128
    python tools/soak.py --quick --models StackedHourglass-tiny

Exit status 0; with ``--check``, 1 when a model misses a target.
"""
import argparse
import ctypes
import ctypes.util
import gc
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
_COCO = 'configs/body_2d_keypoint/topdown_heatmap/coco/'
_SYNTH = 'configs/body_2d_keypoint/topdown_heatmap/synthetic/'

#: name -> config (relative to the repository): one model of each backbone family and a neck.
MODELS = {
    'LightHRNet-18': _COCO + 'td-hm_lighthrnet-18_8xb64-210e_coco-256x192.py',
    'XHRNet-S18': _COCO + 'td-hm_xhrnet-s18_8xb64-210e_coco-256x192.py',
    'StackedHourglass-1': _COCO + 'td-hm_stacked-hourglass-1_8xb32-210e_coco-256x256.py',
    'SlidePoseNet-light': _COCO + 'td-hm_slide-light_8xb64-210e_coco-256x192.py',
    'PSA-ResNet-50': _COCO + 'td-hm_res50-psa-p_8xb64-210e_coco-256x192.py',
    'PSA-HRNet-W32': _COCO + 'td-hm_hrnet-w32-psa-p_8xb64-210e_coco-256x192.py',
    'ResNet-50+SUSA-neck': _COCO + 'td-hm_res50-susa-neck_8xb64-210e_coco-256x192.py',
}
#: Small models, not in the default list (``--models`` selects them).
EXTRA_MODELS = {
    'StackedHourglass-tiny': _SYNTH + 'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py',
}
#: Targets (MB): growth after warm-up over the eval forwards / the training iterations.
EVAL_TARGET_MB = 5.0
TRAIN_TARGET_MB = 20.0
RESULT_TAG = 'SOAK_RESULT '


def rss_mb() -> float:
    """Resident set size of this process in MB (``VmRSS``), after ``gc.collect()``."""
    gc.collect()
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError('no VmRSS line in /proc/self/status (Linux only)')


def _build(config: str, size):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS as MMPOSE_MODELS
    from mmpose.utils import register_all_modules

    import mmpose_lite  # noqa: F401  (registers the modules the configs name)
    register_all_modules()
    init_default_scope('mmpose')
    cfg = Config.fromfile(osp.join(REPO, config))
    model = MMPOSE_MODELS.build(cfg.model)
    if size is None:
        w, h = cfg.model.head.decoder.input_size
        size = (h, w)
    n_params = sum(p.numel() for p in model.parameters())
    return model, tuple(size), n_params


def _outputs(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _malloc_trim():
    """Return the C allocator's free memory to the system (glibc's
    ``malloc_trim(0)``); False where it is not available."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    gc.collect()
    trim(0)
    return True


def _phase(run, n: int, warmup: int) -> dict:
    """``run()`` ``warmup`` times, then ``n`` times, with RSS readings.

    ``start``/``end`` are plain RSS readings (after ``gc.collect()``) around
    the ``n`` runs. The allocator keeps freed blocks for reuse, so plain RSS
    moves by some MB with the sizes of recent allocations; ``live_start`` /
    ``live_end`` are read after ``malloc_trim(0)`` (the memory still in use:
    a leak shows there). The trim comes before the last ``warmup`` runs, so
    the plain readings start from a warm allocator again.
    """
    for _ in range(warmup):
        run()
    trimmed = _malloc_trim()
    live_start = rss_mb() if trimmed else None
    for _ in range(warmup):
        run()
    start = rss_mb()
    t0 = time.perf_counter()
    for _ in range(n):
        run()
    seconds = time.perf_counter() - t0
    end = rss_mb()
    live_end = rss_mb() if _malloc_trim() else None
    return dict(start=start, end=end, live_start=live_start, live_end=live_end, seconds=seconds)


def soak_one(name: str, config: str, forwards: int, train_iters: int, warmup: int, size, train_batch: int,
             threads: int) -> dict:
    """Run the soak phases on one model in this process; returns the readings (MB) and timings."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, (h, w), n_params = _build(config, size)
    model.eval()
    x = torch.randn(1, 3, h, w)

    def forward():
        x.normal_()
        with torch.no_grad():
            model(x, None, mode='tensor')

    evaluation = _phase(forward, forwards, warmup)

    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5, momentum=0.9)
    xt = torch.randn(train_batch, 3, h, w)
    with torch.no_grad():
        targets = [torch.rand_like(o) for o in _outputs(model(xt, None, mode='tensor'))]
    losses = []

    def step():
        xt.normal_()
        outs = _outputs(model(xt, None, mode='tensor'))
        loss = sum(torch.nn.functional.mse_loss(o, t) for o, t in zip(outs, targets))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    training = _phase(step, train_iters, warmup)
    if not all(math.isfinite(v) for v in losses):
        raise RuntimeError(f'{name}: the soak training loss became non-finite')
    return dict(model=name, params_m=n_params / 1e6, size=[h, w], forwards=forwards, train_iters=train_iters,
                eval=evaluation, train=training)


def _child(args, name: str) -> dict:
    """Soak ``name`` in a fresh interpreter (so no other model's freed memory hides a leak)."""
    cmd = [sys.executable, osp.abspath(__file__), '--child', name, '--forwards', str(args.forwards),
           '--train-iters', str(args.train_iters), '--warmup', str(args.warmup), '--threads', str(args.threads),
           '--train-batch', str(args.train_batch)]
    if args.size:
        cmd += ['--size', *map(str, args.size)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get('PYTHONPATH')])))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    raise RuntimeError(f'soak of {name} failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}')


def _growth(phase: dict, live: bool = False):
    if live:
        if phase['live_start'] is None:
            return None
        return phase['live_end'] - phase['live_start']
    return phase['end'] - phase['start']


def format_table(results, eval_target=EVAL_TARGET_MB, train_target=TRAIN_TARGET_MB) -> str:
    """The result table: one row per model; growth in MB of RSS (``+MB``,
    the target's measure, with ``ok`` = under the target) and of the memory
    in use after ``malloc_trim`` (``live``), per phase."""
    def live(phase):
        value = _growth(phase, live=True)
        return f'{value:>7.2f}' if value is not None else f"{'n/a':>7}"
    head = (f"{'model':<22} {'params(M)':>9} {'input':>7} {'RSS(MB)':>8} "
            f"{'evals':>5} {'eval+MB':>7} {'ok':>3} {'live':>7} "
            f"{'iters':>5} {'train+MB':>8} {'ok':>3} {'live':>7} {'eval_s':>7} {'train_s':>7}")
    rows = [head, '-' * len(head)]
    for r in results:
        ev, tr = r['eval'], r['train']
        de, dt = _growth(ev), _growth(tr)
        rows.append(f"{r['model']:<22} {r['params_m']:>9.2f} {'x'.join(map(str, r['size'])):>7} {ev['start']:>8.1f} "
                    f"{r['forwards']:>5} {de:>7.2f} {'yes' if de < eval_target else 'NO':>3} {live(ev)} "
                    f"{r['train_iters']:>5} {dt:>8.2f} {'yes' if dt < train_target else 'NO':>3} {live(tr)} "
                    f"{ev['seconds']:>7.1f} {tr['seconds']:>7.1f}")
    return '\n'.join(rows)


def meets_targets(r) -> bool:
    """Whether both RSS growths are under their targets."""
    return _growth(r['eval']) < EVAL_TARGET_MB and _growth(r['train']) < TRAIN_TARGET_MB


def parse_args(argv=None):
    known = {**MODELS, **EXTRA_MODELS}
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--models', nargs='+', default=None, metavar='NAME',
                   help=f'models to soak (default: {", ".join(MODELS)}; also: {", ".join(EXTRA_MODELS)})')
    p.add_argument('--forwards', type=int, default=1000, help='batch-1 eval forwards after warm-up (default 1000)')
    p.add_argument('--train-iters', type=int, default=200, help='training iterations after warm-up (default 200)')
    p.add_argument('--warmup', type=int, default=20,
                   help='warm-up runs of each phase, done twice: before and after the first allocator trim '
                        '(default 20)')
    p.add_argument('--train-batch', type=int, default=2, help='training batch size (default 2)')
    p.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'), default=None,
                   help="input size (default: the config's codec input size)")
    p.add_argument('--threads', type=int, default=1, help='torch.set_num_threads (default 1)')
    p.add_argument('--quick', action='store_true',
                   help='a smoke run: 30 forwards, 10 iterations, 3 warm-up, 64x64 input (unless given)')
    p.add_argument('--check', action='store_true', help='exit 1 when a model misses a target')
    p.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        defaults = dict(forwards=1000, train_iters=200, warmup=20)
        quick = dict(forwards=30, train_iters=10, warmup=3)
        for key, value in quick.items():
            if getattr(args, key) == defaults[key]:
                setattr(args, key, value)
        args.size = args.size or [64, 64]
    for key in ('forwards', 'train_iters', 'warmup', 'train_batch', 'threads'):
        if getattr(args, key) < (1 if key in ('train_batch', 'threads') else 0):
            kind = 'positive' if key in ('train_batch', 'threads') else 'non-negative'
            p.error(f'--{key.replace("_", "-")} must be a {kind} integer, got {getattr(args, key)}')
    if args.size and any(s <= 0 or s % 32 for s in args.size):
        p.error(f'--size {args.size[0]} {args.size[1]}: H and W must be positive multiples of 32 '
                '(64 for the stacked hourglasses of depth 4)')
    names = args.models or ([args.child] if args.child else list(MODELS))
    unknown = [n for n in names if n not in known]
    if unknown:
        p.error(f'unknown model(s) {unknown}; choose from {sorted(known)}')
    args.models = names
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    known = {**MODELS, **EXTRA_MODELS}
    if args.child:
        result = soak_one(args.child, known[args.child], args.forwards, args.train_iters, args.warmup, args.size,
                          args.train_batch, args.threads)
        print(RESULT_TAG + json.dumps(result), flush=True)
        return 0
    print(f'soak: {args.forwards} batch-1 eval forwards and {args.train_iters} training iterations '
          f'(batch {args.train_batch}) after 2 x {args.warmup} warm-up runs each, {args.threads} thread(s); '
          f'targets: < {EVAL_TARGET_MB:g} MB (eval), < {TRAIN_TARGET_MB:g} MB (train)', flush=True)
    results = []
    for name in args.models:
        results.append(_child(args, name))
        ev, tr = results[-1]['eval'], results[-1]['train']
        print(f"  {name}: eval RSS {ev['start']:.1f} -> {ev['end']:.1f} MB, "
              f"train RSS {tr['start']:.1f} -> {tr['end']:.1f} MB", flush=True)
    print(format_table(results))
    ok = all(meets_targets(r) for r in results)
    print(f'all under target: {"yes" if ok else "NO"}')
    return 1 if args.check and not ok else 0


if __name__ == '__main__':
    sys.exit(main())
