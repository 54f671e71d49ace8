# A CPU-sized Stacked Hourglass ('tiny': 2 stacks of 32 features, hourglass depth 3,
# so 128x96 inputs divide by 4 * 2**3 = 32) on the embedded synthetic COCO-keypoint
# data. Everything but the model comes from the X-HRNet demo config.
_base_ = ['./td-hm_xhrnet-s18_demo_synthcoco-128x96.py']

codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=2, unbiased=True)
num_stacks = 2
model = dict(
    backbone=dict(_delete_=True, type='StackedHourglass', arch='tiny', num_joints=17),
    head=dict(
        _delete_=True,
        type='CPMHead',
        in_channels=17,
        out_channels=17,
        num_stages=num_stacks,
        deconv_out_channels=None,
        final_layer=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec))
