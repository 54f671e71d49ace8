# SlidePoseNet 'light' (slide attention at 1/4 and 1/8, global attention at
# 1/16 and 1/32) with MMPose's top-down heatmap recipe (COCO, 256x192,
# MSRAHeatmap, flip test, 210 epochs). The four stage outputs are resized to
# 1/4 and concatenated (MMPose's FeatureMapProcessor), a 1x1 HeatmapHead
# predicts the heatmaps; AdamW as transformers use, no decay on norms, biases,
# position biases and deformed shifts.
_base_ = ['../../../_base_/td-hm_litehrnet-recipe_8xb64-210e_coco-256x192.py']

arch = 'light'
widths = (32, 64, 128, 256)

model = dict(
    backbone=dict(_delete_=True, type='SlidePoseNet', arch=arch, out_indices=(0, 1, 2, 3)),
    neck=dict(type='FeatureMapProcessor', concat=True),
    head=dict(in_channels=sum(widths), deconv_out_channels=None))

optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        bias_decay_mult=0.,
        custom_keys={
            'relative_position_bias': dict(decay_mult=0.),
            'deform_shift': dict(decay_mult=0.)
        }),
    clip_grad=dict(max_norm=5., norm_type=2))
