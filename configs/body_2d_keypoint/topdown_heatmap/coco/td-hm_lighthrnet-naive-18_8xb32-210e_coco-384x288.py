# LightHRNet 'naive-18' with MMPose's Lite-HRNet top-down heatmap recipe (COCO, 384x288)
_base_ = ['../../../_base_/td-hm_litehrnet-recipe_8xb32-210e_coco-384x288.py']

# naive-18 is 30 channels wide at the highest resolution (the others 40)
model = dict(backbone=dict(_delete_=True, type='LightHRNet', arch='naive-18'), head=dict(in_channels=30))
