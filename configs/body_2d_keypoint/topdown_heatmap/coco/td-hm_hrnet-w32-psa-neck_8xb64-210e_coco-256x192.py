# PSA on MMPose's own HRNet-W32, by config alone: MMPose's config plus an
# AttentionNeck on its 32-channel 1/4 output (the head's in_channels=32 is unchanged)
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
    '../../../_base_/mmpose_lite.py',  # registers mmpose_lite, LiteRunner
]

model = dict(neck=dict(type='AttentionNeck', in_channels=32, unit=dict(type='PSA', layout='parallel')))
