# MMPose's Lite-HRNet top-down heatmap recipe at 256x192 (MSRAHeatmap codec,
# HeatmapHead on the 40-channel 1/4 map, flip test, Adam 5e-4, 210 epochs),
# with this package registered. Configs of this package inherit it and set
# only the backbone.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_litehrnet-18_8xb64-210e_coco-256x192.py',
    './mmpose_lite.py',  # registers mmpose_lite, LiteRunner
]
