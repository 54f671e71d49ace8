# XHRNet 's30' with MMPose's Lite-HRNet top-down heatmap recipe (COCO, 256x192)
_base_ = ['../../../_base_/td-hm_litehrnet-recipe_8xb64-210e_coco-256x192.py']

model = dict(backbone=dict(_delete_=True, type='XHRNet', arch='s30'))
