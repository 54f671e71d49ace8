# SlidePoseNet 'base': the light recipe with the wider, deeper preset.
_base_ = ['./td-hm_slide-light_8xb64-210e_coco-256x192.py']

arch = 'base'
widths = (48, 96, 192, 384)

model = dict(backbone=dict(arch=arch), head=dict(in_channels=sum(widths)))
