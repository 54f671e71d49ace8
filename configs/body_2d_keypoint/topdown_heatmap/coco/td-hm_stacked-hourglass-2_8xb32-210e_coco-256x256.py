# Stacked Hourglass with 2 stacks of 256 features; otherwise the 1-stack config.
_base_ = ['./td-hm_stacked-hourglass-1_8xb32-210e_coco-256x256.py']

num_stacks = 2
model = dict(backbone=dict(arch='hg2'), head=dict(num_stages=num_stacks))
