# PSA as the unit inside the Lite-HRNet/X-HRNet skeleton: X-HRNet-18's shuffle
# blocks with parallel PSA in place of the two SUSA units (pre and post the
# depthwise 3x3), MMPose's Lite-HRNet recipe, 256x192
_base_ = ['../../../_base_/td-hm_litehrnet-recipe_8xb64-210e_coco-256x192.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='LightHRNet',
        arch=dict(
            base='s18',
            block=dict(type='ShuffleBlock', pre=dict(type='PSA', layout='parallel'),
                       post=dict(type='PSA', layout='parallel')))))
