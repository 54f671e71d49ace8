# Stacked Hourglass with 8 stacks of 256 features on MPII; otherwise the 1-stack config.
_base_ = ['./td-hm_stacked-hourglass-1_8xb32-210e_mpii-256x256.py']

num_stacks = 8
model = dict(backbone=dict(arch='hg8'), head=dict(num_stages=num_stacks))
