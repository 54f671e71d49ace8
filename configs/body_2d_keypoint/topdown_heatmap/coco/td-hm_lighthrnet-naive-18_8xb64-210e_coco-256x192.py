# LightHRNet 'naive-18' with MMPose's Lite-HRNet top-down heatmap recipe (COCO, 256x192)
_base_ = ['../../../_base_/td-hm_litehrnet-recipe_8xb64-210e_coco-256x192.py']

# naive-18 is 30 channels wide at the highest resolution (the others 40)
model = dict(backbone=dict(_delete_=True, type='LightHRNet', arch='naive-18'), head=dict(in_channels=30))
