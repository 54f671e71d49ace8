# SimpleBaseline with PSA-ResNet-50 (sequential PSA in every bottleneck), MMPose's ResNet-50 recipe, 256x192
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py']

custom_imports = dict(imports=['mmpose_lite'], allow_failed_imports=False)

# MMPose's CocoDataset, checking up front that its files exist (a clear message, not a traceback)
train_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
val_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
test_dataloader = val_dataloader

model = dict(backbone=dict(type='AttentionResNet', unit=dict(type='PSA', layout='sequential')))
