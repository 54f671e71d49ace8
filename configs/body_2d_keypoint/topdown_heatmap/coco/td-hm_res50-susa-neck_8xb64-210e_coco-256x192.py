# X-HRNet's parallel H-/W-wise SUSA on MMPose's own ResNet-50 (SimpleBaseline), by
# config alone: an AttentionNeck on the 2048-channel 1/32 map (8x6 at 256x192; the
# stripe weights resample to other sizes). The head's in_channels=2048 is unchanged.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py',
    '../../../_base_/mmpose_lite.py',  # registers mmpose_lite, LiteRunner
]

model = dict(neck=dict(type='AttentionNeck', in_channels=2048, unit=dict(type='HWSUSA', stripe_size=(8, 6))))
