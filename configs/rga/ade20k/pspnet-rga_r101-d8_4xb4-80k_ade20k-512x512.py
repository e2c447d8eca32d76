# PSPNet-R101-D8 on ADE20K (mmseg's 80k, 512x512 recipe) + RGA-SC on the PPM output map.
# Training crops give 64x64 maps (output stride 8): 32x32 nodes, 2x2 pixels each. Whole test
# images (short side 512, long side up to 2048, any aspect ratio) give 64 x 64..256 maps (or
# 64..256 x 64), RoIAligned to the same 32x32 nodes; the spatial gate is resized back.
_base_ = ['mmseg::pspnet/pspnet_r101-d8_4xb4-80k_ade20k-512x512.py']
custom_imports = dict(imports=['mmseg_rga'], allow_failed_imports=False)
model = dict(decode_head=dict(type='RGAPSPHead', rga_cfg=dict(pooled_size=(32, 32), order='SC')))
