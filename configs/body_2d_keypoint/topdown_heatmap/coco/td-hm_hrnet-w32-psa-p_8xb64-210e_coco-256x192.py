# PSA-HRNet-W32 (parallel PSA in every basic block), MMPose's HRNet-W32 recipe, 256x192
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
    '../../../_base_/mmpose_lite.py',  # registers mmpose_lite, LiteRunner
]

model = dict(backbone=dict(type='AttentionHRNet', unit=dict(type='PSA', layout='parallel')))
