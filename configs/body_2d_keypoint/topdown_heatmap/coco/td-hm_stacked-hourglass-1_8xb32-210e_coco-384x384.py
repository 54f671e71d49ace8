# Stacked Hourglass, 1 stack of 256 features, with MMPose's Hourglass52 top-down
# recipe at 384x384 (MSRAHeatmap 384x384 -> 96x96, sigma 3). See the 256x256 config.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hourglass52_8xb32-210e_coco-384x384.py',
    '../../../_base_/mmpose_lite.py',  # registers mmpose_lite, LiteRunner
]

num_stacks = 1
model = dict(
    backbone=dict(_delete_=True, type='StackedHourglass', arch='hg1', num_joints=17),
    head=dict(in_channels=17, out_channels=17, num_stages=num_stacks, deconv_out_channels=None, final_layer=None))
