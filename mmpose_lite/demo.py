"""The main job: train X-HRNet on the embedded synthetic data, on a CPU.

``python -m mmpose_lite.demo`` (what ``bash tools/demo.sh`` runs):

1. generates the synthetic COCO-keypoint data set when it is absent;
2. trains the demo config through MMPose's Runner, evaluating with MMPose's
   CocoMetric on detected boxes before training and during it;
3. writes ``metrics.json`` (AP before/after, the learning curve),
   ``learning_curve.png`` and ``predictions.png`` (skeletons predicted on
   val images, drawn by MMPose's visualizer) into the work dir.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(REPO_ROOT, 'configs', 'body_2d_keypoint', 'topdown_heatmap', 'synthetic',
                          'td-hm_xhrnet-s18_demo_synthcoco-128x96.py')


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default=DEFAULT_CONFIG, help='demo config (default: %(default)s)')
    p.add_argument('--work-dir', default='work_dirs/demo', help='where logs, checkpoints and PNGs go')
    p.add_argument('--data-root', default='data/synthetic_coco', help='synthetic data folder (made if absent)')
    p.add_argument('--num-train', type=int, default=None, help='synthetic train images (generator default)')
    p.add_argument('--num-val', type=int, default=None, help='synthetic val images (generator default)')
    p.add_argument('--seed', type=int, default=0, help='seed of the synthetic data')
    p.add_argument('--epochs', type=int, default=None, help='override the config\'s number of epochs')
    p.add_argument('--num-vis', type=int, default=6, help='val images in predictions.png')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='override config keys, e.g. train_dataloader.batch_size=16')
    return p.parse_args(argv)


def ensure_data(data_root: str, num_train: Optional[int], num_val: Optional[int], seed: int) -> None:
    """Generate the synthetic data set unless it is complete already."""
    from mmpose_lite.datasets import generate_synthetic_coco
    needed = ['annotations/person_keypoints_train.json', 'annotations/person_keypoints_val.json',
              'annotations/person_detection_results_val.json']
    if all(osp.isfile(osp.join(data_root, f)) for f in needed):
        print(f'[demo] using the synthetic data in {data_root}')
        return
    kwargs = {k: v for k, v in dict(num_train=num_train, num_val=num_val).items() if v is not None}
    t0 = time.time()
    result = generate_synthetic_coco(data_root, seed=seed, **kwargs)
    print(f'[demo] generated synthetic data in {data_root} in {time.time() - t0:.1f} s: {result}')


def read_scalars(work_dir: str) -> List[Dict]:
    """The records MMEngine's LocalVisBackend wrote (``vis_data/scalars.json``)."""
    runs = sorted(d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d)))
    for run in reversed(runs):
        path = osp.join(work_dir, run, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            with open(path) as f:
                return [json.loads(line) for line in f if line.strip()]
    return []


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


def draw_predictions(cfg_path: str, checkpoint: str, data_root: str, out_file: str, num: int) -> None:
    """Predict on the first ``num`` val images with their detected boxes and
    save a grid drawn by MMPose's ``PoseLocalVisualizer``."""
    import mmcv
    import numpy as np
    from mmpose.apis import inference_topdown, init_model
    from mmpose.registry import VISUALIZERS
    from mmpose.structures import merge_data_samples

    model = init_model(cfg_path, checkpoint, device='cpu')
    visualizer = VISUALIZERS.build(dict(model.cfg.visualizer, name='mmpose_lite_demo', vis_backends=None,
                                        radius=2, line_width=1))
    visualizer.set_dataset_meta(model.dataset_meta)
    with open(osp.join(data_root, 'annotations', 'person_keypoints_val.json')) as f:
        images = json.load(f)['images'][:num]
    with open(osp.join(data_root, 'annotations', 'person_detection_results_val.json')) as f:
        dets = json.load(f)
    tiles = []
    for img in images:
        boxes = np.array([d['bbox'] for d in dets if d['image_id'] == img['id'] and d['score'] >= 0.5],
                         dtype=np.float32).reshape(-1, 4)
        path = osp.join(data_root, 'val', img['file_name'])
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


def main(argv=None) -> Dict:
    args = parse_args(argv)
    t_start = time.time()
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    import mmpose_lite  # noqa: F401  (registration)
    ensure_data(args.data_root, args.num_train, args.num_val, args.seed)

    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    data_root = args.data_root.rstrip('/') + '/'
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = data_root
    cfg.val_dataloader.dataset.bbox_file = data_root + 'annotations/person_detection_results_val.json'
    cfg.test_dataloader = cfg.val_dataloader
    cfg.val_evaluator.ann_file = data_root + 'annotations/person_keypoints_val.json'
    cfg.test_evaluator = cfg.val_evaluator
    if args.epochs is not None:
        cfg.train_cfg.max_epochs = args.epochs
        cfg.train_cfg.val_interval = min(cfg.train_cfg.val_interval, args.epochs)
        cfg.default_hooks.checkpoint.interval = args.epochs
        for sched in cfg.param_scheduler:
            if sched.get('by_epoch', True):
                sched.end = sched.T_max = args.epochs
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
    cfg.dump(cfg_dump)
    draw_predictions(cfg_dump, checkpoint, args.data_root, osp.join(args.work_dir, 'predictions.png'),
                     args.num_vis)
    summary = dict(
        ap_before_training=val[0]['coco/AP'],
        ap_final=val[-1]['coco/AP'],
        final_metrics={k: v for k, v in val[-1].items() if k.startswith('coco/')},
        curve=[dict(epoch=r['step'], AP=r['coco/AP']) for r in val],
        train_seconds=round(train_s, 1),
        total_seconds=round(time.time() - t_start, 1),
        checkpoint=checkpoint,
        config=args.config,
    )
    with open(osp.join(args.work_dir, 'metrics.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print('[demo] AP on synthetic val (CocoMetric, detected boxes): '
          f"before training {summary['ap_before_training']:.3f} -> after {summary['ap_final']:.3f}")
    print('[demo] learning curve: ' + ', '.join(f"ep{c['epoch']}={c['AP']:.3f}" for c in summary['curve']))
    print(f"[demo] wall time {summary['total_seconds']:.0f} s (training {summary['train_seconds']:.0f} s); "
          f'wrote {args.work_dir}/metrics.json, learning_curve.png, predictions.png')
    return summary


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
