# PSA-HRNet-W32 (sequential PSA in every basic block), MMPose's HRNet-W32 recipe, 384x288
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-384x288.py',
    '../../../_base_/mmpose_lite.py',  # registers mmpose_lite, LiteRunner
]

model = dict(backbone=dict(type='AttentionHRNet', unit=dict(type='PSA', layout='sequential')))
