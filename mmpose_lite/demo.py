"""The main job: train X-HRNet on the embedded synthetic data, on a CPU.

``python -m mmpose_lite.demo`` (what ``bash tools/demo.sh`` runs):

1. generates the synthetic COCO-keypoint data set when it is absent;
2. trains the demo config through MMPose's Runner, evaluating with MMPose's
   CocoMetric on detected boxes before training and during it;
3. writes ``metrics.json`` (AP before/after, the learning curve),
   ``learning_curve.png`` and ``predictions.png`` (skeletons predicted on
   val images, drawn by MMPose's visualizer) into the work dir.

Every training setting lives in the demo config: with no options the demo
trains exactly what ``mim train mmpose <demo config>`` trains. ``--data-root D``
and ``--epochs N`` are shorthands for ``--cfg-options data_root=D
max_epochs=N``, which set the config's top-level variable *and* every key its
``derived_keys`` table derives from it (see :func:`derived_options`); the demo
prints the expanded ``--cfg-options``, which give ``mim train mmpose`` the same
run.
"""
import argparse
import json
import os
import os.path as osp
import shlex
import string
import sys
import time
from typing import Dict, List, Optional

#: The demo config, one of this package's (found wherever it is installed, see mmpose_lite.utils.paths).
DEFAULT_CONFIG = 'mmpose_lite::body_2d_keypoint/topdown_heatmap/synthetic/td-hm_xhrnet-s18_demo_synthcoco-128x96.py'
#: The demo's shorthand arguments (``args`` attribute) and the config variable each sets.
SHORTHANDS = {'data_root': 'data_root', 'epochs': 'max_epochs'}


def parse_args(argv=None):
    """The demo's arguments, checked before anything runs: numbers in range,
    the config present, the work dir writable (created if absent), so a bad
    argument stops the demo at once (exit status 2) rather than after data
    generation or training."""
    from mmengine.config import DictAction

    from mmpose_lite.utils.cli import ensure_writable_dir, int_at_least
    from mmpose_lite.utils.paths import SCOPE_PREFIX, config_path
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default=DEFAULT_CONFIG,
                   help="demo config: a path, or one of this package's as 'mmpose_lite::<path under its configs>' "
                   '(default: %(default)s)')
    p.add_argument('--work-dir', default='work_dirs/demo', help='where logs, checkpoints and PNGs go')
    p.add_argument('--data-root', default=None, metavar='D',
                   help="synthetic data folder (made if absent); shorthand for --cfg-options data_root=D, which also "
                   "sets every key the config derives from data_root (default: the config's data_root)")
    p.add_argument('--num-train', type=int_at_least(1), default=None,
                   help='synthetic train images (generator default)')
    p.add_argument('--num-val', type=int_at_least(1), default=None, help='synthetic val images (generator default)')
    p.add_argument('--seed', type=int_at_least(0), default=0, help='seed of the synthetic data')
    p.add_argument('--epochs', type=int_at_least(1), default=None, metavar='N',
                   help="number of epochs; shorthand for --cfg-options max_epochs=N, which also sets every key the "
                   "config derives from max_epochs (default: the config's max_epochs)")
    p.add_argument('--num-vis', type=int_at_least(1), default=6, help='val images in predictions.png')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='override config keys, e.g. train_dataloader.batch_size=16')
    args = p.parse_args(argv)
    if args.config.startswith(SCOPE_PREFIX):
        try:
            args.config = config_path(args.config)
        except (FileNotFoundError, ValueError) as e:
            p.error(f'--config: {e}')
    if not osp.isfile(args.config):
        p.error(f'--config {args.config} does not exist (absolute: {osp.abspath(args.config)}); the default is '
                f'{DEFAULT_CONFIG}')
    try:
        ensure_writable_dir(args.work_dir, '--work-dir')
    except OSError as e:
        p.error(str(e))
    for arg, variable in SHORTHANDS.items():
        if getattr(args, arg) is not None and variable in args.cfg_options:
            p.error(f'--{arg.replace("_", "-")} and --cfg-options {variable}=... both set {variable}; give one')
    return args


def ensure_data(data_root: str, num_train: Optional[int], num_val: Optional[int], seed: int) -> None:
    """Generate the synthetic data set unless ``data_root`` holds a complete one made with these arguments
    (its manifest, written last, says so: a generation killed half-way is made again)."""
    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    kwargs = {k: v for k, v in dict(num_train=num_train, num_val=num_val).items() if v is not None}
    result = generate_synthetic_coco(data_root, seed=seed, reuse=True, **kwargs)
    if result.reused:
        print(f'[demo] using the synthetic data in {data_root}')
    else:
        print(f'[demo] generated synthetic data in {data_root} in {result.seconds:.1f} s: {result}')


def read_scalars(work_dir: str) -> List[Dict]:
    """The records MMEngine's LocalVisBackend wrote (``vis_data/scalars.json``)."""
    runs = sorted(d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d)))
    for run in reversed(runs):
        path = osp.join(work_dir, run, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            with open(path) as f:
                return [json.loads(line) for line in f if line.strip()]
    return []


def iteration_seconds(records: List[Dict]) -> Dict[str, float]:
    """Mean seconds per training iteration and the data-loading part of it,
    from the training records' ``time`` and ``data_time`` (each record a
    logger window's mean, so these are means over the logged iterations)."""
    train = [r for r in records if 'time' in r and 'data_time' in r]
    if not train:
        return {}
    return {key: round(sum(r[key] for r in train) / len(train), 3) for key in ('time', 'data_time')}


def plot_learning_curve(records: List[Dict], out_file: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    train = [r for r in records if 'loss' in r]
    val = [r for r in records if 'coco/AP' in r]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot([r['step'] for r in train], [r['loss'] for r in train])
    ax1.set(xlabel='iteration', ylabel='training loss (KeypointMSELoss)', yscale='log', title='loss')
    ax2.plot([r['step'] for r in val], [r['coco/AP'] for r in val], 'o-', label='AP')
    if val and 'coco/AP .5' in val[0]:
        ax2.plot([r['step'] for r in val], [r['coco/AP .5'] for r in val], 's--', label='AP@0.5')
    ax2.set(xlabel='epoch', ylabel='CocoMetric on synthetic val', ylim=(0, 1), title='validation')
    ax2.legend()
    fig.tight_layout()
    fig.savefig(out_file, dpi=110)
    plt.close(fig)


def draw_predictions(cfg_path: str, checkpoint: str, out_file: str, num: int) -> None:
    """Predict on the first ``num`` images of the config's val set with their
    detected boxes (its ``bbox_file``) and save a grid drawn by MMPose's
    ``PoseLocalVisualizer``."""
    import mmcv
    import numpy as np
    from mmpose.apis import inference_topdown, init_model
    from mmpose.registry import VISUALIZERS
    from mmpose.structures import merge_data_samples

    model = init_model(cfg_path, checkpoint, device='cpu')
    visualizer = VISUALIZERS.build(dict(model.cfg.visualizer, name='mmpose_lite_demo', vis_backends=None,
                                        radius=2, line_width=1))
    visualizer.set_dataset_meta(model.dataset_meta)
    val = model.cfg.val_dataloader.dataset
    with open(osp.join(val.data_root, val.ann_file)) as f:
        images = json.load(f)['images'][:num]
    with open(val.bbox_file) as f:
        dets = json.load(f)
    tiles = []
    for img in images:
        boxes = np.array([d['bbox'] for d in dets if d['image_id'] == img['id'] and d['score'] >= 0.5],
                         dtype=np.float32).reshape(-1, 4)
        path = osp.join(val.data_root, val.data_prefix['img'], img['file_name'])
        results = inference_topdown(model, path, boxes, bbox_format='xywh')
        rgb = mmcv.imread(path, channel_order='rgb')
        visualizer.add_datasample('pred', rgb, data_sample=merge_data_samples(results), draw_gt=False,
                                  draw_bbox=True, kpt_thr=0.3, show=False)
        tiles.append(visualizer.get_image())
    h = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
    cols = min(3, len(tiles))
    rows = [np.concatenate(tiles[i:i + cols] + [np.zeros_like(tiles[0])] * (cols - len(tiles[i:i + cols])), 1)
            for i in range(0, len(tiles), cols)]
    mmcv.imwrite(np.concatenate(rows, 0)[..., ::-1], out_file)


def _template_fields(template: str) -> set:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def derived_variables(cfg) -> set:
    """The top-level variables the config's ``derived_keys`` table derives keys from."""
    return set().union(*(_template_fields(t) for t in (cfg.get('derived_keys') or {}).values()))


def derived_options(cfg, **values) -> Dict[str, object]:
    """The ``--cfg-options`` that set top-level variables of ``cfg`` to
    ``values`` and re-derive every key the config's ``derived_keys`` table
    makes from them.

    ``derived_keys`` maps a dotted key (``--cfg-options`` syntax, list items
    by index) to a ``str.format`` template over top-level variables, e.g.
    ``'val_evaluator.ann_file': '{data_root}annotations/person_keypoints_val.json'``;
    a template that is exactly ``'{name}'`` gives the value itself (an int
    stays an int). A template naming other variables too takes their values
    from ``cfg``.

    Args:
        cfg (Config): The config, as read from its file.
        **values: New values of top-level variables the table names, e.g.
            ``data_root='data/other/', max_epochs=3``.

    Returns:
        dict: ``{dotted key: value}`` for ``Config.merge_from_dict``: the
        variables themselves first, then the derived keys in table order.

    Raises:
        ValueError: ``values`` names a variable the table derives nothing
            from (e.g. the config has no table), or a template needs a
            variable the config lacks; the message names the config file.
    """
    table = cfg.get('derived_keys') or {}
    known = derived_variables(cfg)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f'{cfg.filename} derives no keys from {unknown} (its derived_keys table names '
                         f'{sorted(known) or "no variable"}): set the keys you want one by one with --cfg-options, '
                         'or list them in derived_keys in the config.')
    variables = {name: cfg[name] for name in known if name in cfg}
    variables.update(values)
    options = dict(values)
    for key, template in table.items():
        fields = _template_fields(template)
        if not fields & values.keys():
            continue
        missing = sorted(fields - variables.keys())
        if missing:
            raise ValueError(f'{cfg.filename}: derived_keys[{key!r}] = {template!r} needs the top-level variable(s) '
                             f'{missing}, which the config does not define.')
        whole = template[1:-1]  # '{name}' alone: the value itself, type kept
        options[key] = variables[whole] if fields == {whole} else template.format(**variables)
    return options


def cfg_option_args(options: Dict[str, object]) -> List[str]:
    """``options`` as ``key=value`` words for ``--cfg-options`` on a command line (shell-quoted)."""
    return [shlex.quote(f'{key}={value}') for key, value in options.items()]


def build_config(args: argparse.Namespace) -> tuple:
    """The config the demo trains: ``args.config`` with the shorthands
    (``--data-root``, ``--epochs`` and ``--cfg-options`` that set a variable
    of ``derived_keys``) expanded by :func:`derived_options`, then the other
    ``--cfg-options`` merged (they win), and ``work_dir`` set. Nothing else
    changes: without options it is the file as ``mim train mmpose`` reads it.

    Returns:
        tuple: The config and every ``--cfg-options`` entry applied to it.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    explicit = dict(args.cfg_options)
    values = {name: explicit.pop(name) for name in derived_variables(cfg) & explicit.keys()}
    values.update({var: getattr(args, arg) for arg, var in SHORTHANDS.items() if getattr(args, arg) is not None})
    if 'data_root' in values:  # the templates append file names to it
        values['data_root'] = osp.join(str(values['data_root']), '')
    options = {**derived_options(cfg, **values), **explicit}
    cfg.merge_from_dict(options)
    cfg.work_dir = args.work_dir
    return cfg, options


def run(argv=None) -> Dict:
    """The demo: checks ``argv`` (see :func:`parse_args`), builds the config
    (:func:`build_config`), makes the data if needed, trains, and writes
    ``metrics.json``, ``learning_curve.png`` and ``predictions.png``.

    Returns:
        dict: What ``metrics.json`` holds.
    """
    args = parse_args(argv)
    t_start = time.time()
    import torch
    from mmengine.runner import Runner

    import mmpose_lite  # noqa: F401  (registration)
    try:
        cfg, options = build_config(args)
    except ValueError as e:
        raise SystemExit(f'[demo] error: {e}') from e
    if options:
        print('[demo] config overrides (the same for `mim train mmpose`): --cfg-options ' +
              ' '.join(cfg_option_args(options)))
    ensure_data(cfg.train_dataloader.dataset.data_root, args.num_train, args.num_val, args.seed)
    print(f'[demo] torch threads: {torch.get_num_threads()}, config: {args.config}')

    runner = Runner.from_cfg(cfg)
    t_train = time.time()
    runner.train()
    train_s = time.time() - t_train

    records = read_scalars(args.work_dir)
    val = [r for r in records if 'coco/AP' in r]
    if not val:
        raise RuntimeError(f'no CocoMetric results were logged under {args.work_dir}')
    plot_learning_curve(records, osp.join(args.work_dir, 'learning_curve.png'))
    with open(osp.join(args.work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    cfg_dump = osp.join(args.work_dir, osp.basename(args.config))
    runner.cfg.dump(cfg_dump)  # the config the runner ran, as `mim train mmpose` dumps it
    draw_predictions(cfg_dump, checkpoint, osp.join(args.work_dir, 'predictions.png'), args.num_vis)
    summary = dict(
        ap_before_training=val[0]['coco/AP'],
        ap_final=val[-1]['coco/AP'],
        final_metrics={k: v for k, v in val[-1].items() if k.startswith('coco/')},
        curve=[dict(epoch=r['step'], AP=r['coco/AP']) for r in val],
        train_seconds=round(train_s, 1),
        seconds_per_iter=iteration_seconds(records),
        total_seconds=round(time.time() - t_start, 1),
        checkpoint=checkpoint,
        config=args.config,
    )
    with open(osp.join(args.work_dir, 'metrics.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print('[demo] AP on synthetic val (CocoMetric, detected boxes): '
          f"before training {summary['ap_before_training']:.3f} -> after {summary['ap_final']:.3f}")
    print('[demo] learning curve: ' + ', '.join(f"ep{c['epoch']}={c['AP']:.3f}" for c in summary['curve']))
    if summary['seconds_per_iter']:
        print(f"[demo] {summary['seconds_per_iter']['time']:.2f} s per training iteration "
              f"({summary['seconds_per_iter']['data_time']:.2f} s of it loading data)")
    print(f"[demo] wall time {summary['total_seconds']:.0f} s (training {summary['train_seconds']:.0f} s); "
          f'wrote {args.work_dir}/metrics.json, learning_curve.png, predictions.png')
    return summary


def main(argv=None) -> int:
    """The ``mmpose-lite-demo`` command: :func:`run`, exit status 0 when it finishes."""
    run(argv)
    return 0


if __name__ == '__main__':
    sys.exit(main())
