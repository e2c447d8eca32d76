# UPerNet-R50 on ADE20K (mmseg's 80k, 512x512 recipe) + RGA-SC on the fused FPN map (the input of
# the classifier: 512 channels at output stride 4, 128x128 on a crop): 32x32 nodes of 4x4 pixels.
_base_ = ['mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py']
custom_imports = dict(imports=['mmseg_rga'], allow_failed_imports=False)
model = dict(decode_head=dict(type='RGAUPerHead', rga_cfg=dict(pooled_size=(32, 32), order='SC')))
