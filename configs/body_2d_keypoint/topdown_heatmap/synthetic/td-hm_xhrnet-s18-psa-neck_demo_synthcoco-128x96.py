# The CPU demo (X-HRNet-S18 on the embedded synthetic COCO-keypoint data,
# 128x96) with a parallel PSA unit applied to the backbone's output by an
# AttentionNeck: the one-line swap of an attention unit onto any backbone,
# small enough to train and evaluate through `mim train/test mmpose` on a CPU.
_base_ = ['./td-hm_xhrnet-s18_demo_synthcoco-128x96.py']

model = dict(neck=dict(type='AttentionNeck', in_channels=40, unit=dict(type='PSA', layout='parallel')))
