# Stacked Hourglass (Newell et al., 2016), 1 stack of 256 features, on MPII with
# MMPose's Hourglass52 MPII recipe (MpiiDataset, MSRAHeatmap 256x256 -> 64x64,
# Adam 5e-4, 210 epochs, flip test, PCKh with MpiiPCKAccuracy), at 32 images per
# GPU. The backbone predicts every stack's 16 heatmaps; MMPose's CPMHead with
# identity stages supervises each stack and decodes the last one.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/mpii/td-hm_hourglass52_8xb64-210e_mpii-256x256.py',
    '../../../_base_/mmpose_lite.py',  # registers mmpose_lite, LiteRunner
]

num_stacks = 1
model = dict(
    backbone=dict(_delete_=True, type='StackedHourglass', arch='hg1', num_joints=16),
    head=dict(in_channels=16, out_channels=16, num_stages=num_stacks, deconv_out_channels=None, final_layer=None))

train_dataloader = dict(batch_size=32)
auto_scale_lr = dict(base_batch_size=256)
