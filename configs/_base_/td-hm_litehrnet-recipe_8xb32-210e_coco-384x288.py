# MMPose's Lite-HRNet top-down heatmap recipe at 384x288 (MSRAHeatmap codec,
# HeatmapHead on the 40-channel 1/4 map, flip test, Adam 5e-4, 210 epochs),
# with this package registered. Configs of this package inherit it and set
# only the backbone.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_litehrnet-18_8xb32-210e_coco-384x288.py',
    './mmpose_lite.py',  # registers mmpose_lite, LiteRunner
]
