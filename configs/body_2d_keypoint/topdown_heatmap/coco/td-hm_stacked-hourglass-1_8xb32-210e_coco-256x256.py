# Stacked Hourglass (Newell et al., 2016), 1 stack of 256 features, with MMPose's
# Hourglass52 top-down recipe (MSRAHeatmap 256x256 -> 64x64, Adam 5e-4, 210 epochs,
# flip test). The backbone predicts every stack's heatmaps (they feed the next
# stack); MMPose's CPMHead with identity stages supervises each stack with the
# same loss and decodes the last one.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hourglass52_8xb32-210e_coco-256x256.py',
    '../../../_base_/mmpose_lite.py',  # registers mmpose_lite, LiteRunner
]

num_stacks = 1
model = dict(
    backbone=dict(_delete_=True, type='StackedHourglass', arch='hg1', num_joints=17),
    head=dict(in_channels=17, out_channels=17, num_stages=num_stacks, deconv_out_channels=None, final_layer=None))
