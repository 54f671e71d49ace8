# The main job: X-HRNet-S18 trained on the embedded synthetic COCO-keypoint data
# on a CPU, evaluated with MMPose's CocoMetric on detected boxes (bbox_file).
# Inherits the COCO config and changes only what the CPU budget forces: input
# size, schedule and data location. Run it through `bash tools/demo.sh`.
_base_ = ['../coco/td-hm_xhrnet-s18_8xb64-210e_coco-256x192.py']

data_root = 'data/synthetic_coco/'
codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=2, unbiased=True)
max_epochs = 12  # ~12 min wall on 2 cores (7 epochs: 7 min, AP 0.133)

model = dict(head=dict(decoder=codec))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform', rotate_factor=40, scale_factor=(0.75, 1.25)),
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
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=50, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, T_max=max_epochs, eta_min=2e-5, by_epoch=True)
]
auto_scale_lr = dict(enable=False, base_batch_size=32)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='ValidateBeforeTrainHook')]
randomness = dict(seed=0)
