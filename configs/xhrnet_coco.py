# The short name: X-HRNet-S18 (sequential X-shuffle blocks) on COCO, 256x192.
#   mim train mmpose configs/xhrnet_coco.py
_base_ = ['./body_2d_keypoint/topdown_heatmap/coco/td-hm_xhrnet-s18_8xb64-210e_coco-256x192.py']
