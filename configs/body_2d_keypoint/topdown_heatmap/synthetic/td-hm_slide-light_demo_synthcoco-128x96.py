# SlidePoseNet 'light' on the embedded synthetic COCO-keypoint data on a CPU:
# the demo job (input 128x96, schedule, data) with the Slide backbone, neck and
# head of configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_slide-light_8xb64-210e_coco-256x192.py.
_base_ = ['./td-hm_xhrnet-s18_demo_synthcoco-128x96.py']

model = dict(
    backbone=dict(_delete_=True, type='SlidePoseNet', arch='light', out_indices=(0, 1, 2, 3)),
    neck=dict(type='FeatureMapProcessor', concat=True),
    head=dict(in_channels=32 + 64 + 128 + 256))
base_lr = 2e-3
optim_wrapper = dict(_delete_=True, optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05))
