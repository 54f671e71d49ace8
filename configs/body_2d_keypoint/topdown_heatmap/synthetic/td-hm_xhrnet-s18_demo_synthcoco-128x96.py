# The main job: X-HRNet-S18 trained on the embedded synthetic COCO-keypoint data
# on a CPU, evaluated with MMPose's CocoMetric on detected boxes (bbox_file).
# Inherits the COCO config and changes only what the CPU budget forces: input
# size, schedule (and a recipe for it), data location. Run it through `bash tools/demo.sh`, or
# `mim train mmpose <this file>`: both train with exactly these settings.
_base_ = ['../coco/td-hm_xhrnet-s18_8xb64-210e_coco-256x192.py']

data_root = 'data/synthetic_coco/'
codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=2, unbiased=True)
max_epochs = 12
# The short-schedule recipe the study in README.md chose (tools/demo_study.py;
# `--cfg-options base_lr=2e-3 half_body_prob=0.3 rotate_factor=40` is the
# COCO-like recipe it started from): a higher learning rate and lighter
# augmentation learn faster in 12 epochs.
base_lr = 5e-3
half_body_prob = 0.0  # RandomHalfBody's default: 0.3
rotate_factor = 20  # MMPose's COCO configs: 40

model = dict(head=dict(decoder=codec))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody', prob=half_body_prob),
    dict(type='RandomBBoxTransform', rotate_factor=rotate_factor, scale_factor=(0.75, 1.25)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/person_keypoints_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/person_keypoints_val.json',
        bbox_file=data_root + 'annotations/person_detection_results_val.json',
        data_prefix=dict(img='val/'),
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/person_keypoints_val.json')
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=max_epochs, val_interval=2)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=50, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, T_max=max_epochs, eta_min=2e-5, by_epoch=True)
]
auto_scale_lr = dict(enable=False, base_batch_size=32)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='ValidateBeforeTrainHook')]
randomness = dict(seed=0)

# The keys above that derive from the top-level variables (`data_root`,
# `max_epochs`, the recipe's), each with the template it is made from. MMEngine's `--cfg-options` sets one
# key at a time and cannot re-derive them from a changed variable, so
# `python -m mmpose_lite.demo --data-root D --epochs N` (or the demo's
# `--cfg-options data_root=D max_epochs=N`) sets the variable and every key
# below that names it, and prints the equivalent `--cfg-options` for
# `mim train mmpose` (mmpose_lite/demo.py, `derived_options`). A template that
# is exactly '{name}' gives the value itself (an int stays an int). A config
# inheriting this one that changes one of these keys' places (e.g. its own
# param_scheduler list) updates this table with it.
derived_keys = {
    'train_dataloader.dataset.data_root': '{data_root}',
    'val_dataloader.dataset.data_root': '{data_root}',
    'val_dataloader.dataset.bbox_file': '{data_root}annotations/person_detection_results_val.json',
    'test_dataloader.dataset.data_root': '{data_root}',
    'test_dataloader.dataset.bbox_file': '{data_root}annotations/person_detection_results_val.json',
    'val_evaluator.ann_file': '{data_root}annotations/person_keypoints_val.json',
    'test_evaluator.ann_file': '{data_root}annotations/person_keypoints_val.json',
    'train_cfg.max_epochs': '{max_epochs}',
    'param_scheduler.1.end': '{max_epochs}',
    'param_scheduler.1.T_max': '{max_epochs}',
    'default_hooks.checkpoint.interval': '{max_epochs}',
    'optim_wrapper.optimizer.lr': '{base_lr}',
    'train_pipeline.3.prob': '{half_body_prob}',
    'train_dataloader.dataset.pipeline.3.prob': '{half_body_prob}',
    'train_pipeline.4.rotate_factor': '{rotate_factor}',
    'train_dataloader.dataset.pipeline.4.rotate_factor': '{rotate_factor}',
}
