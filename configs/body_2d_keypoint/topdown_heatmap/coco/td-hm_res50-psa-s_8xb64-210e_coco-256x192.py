# SimpleBaseline with PSA-ResNet-50 (sequential PSA in every bottleneck), MMPose's ResNet-50 recipe, 256x192
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py',
    '../../../_base_/mmpose_lite.py',  # registers mmpose_lite, LiteRunner
]

model = dict(backbone=dict(type='AttentionResNet', unit=dict(type='PSA', layout='sequential')))
