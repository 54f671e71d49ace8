# LightHRNet 'wider-naive-18' with MMPose's Lite-HRNet top-down heatmap recipe (COCO, 384x288)
_base_ = ['../../../_base_/td-hm_litehrnet-recipe_8xb32-210e_coco-384x288.py']

model = dict(backbone=dict(_delete_=True, type='LightHRNet', arch='wider-naive-18'))
