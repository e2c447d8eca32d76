# DeepLabV3-R101-D8 on ADE20K (mmseg's 80k, 512x512 recipe) + RGA-SC on the ASPP output map.
# Same geometry as the PSPNet config: 64x64 maps on crops, 32x32 nodes; whole test images of any
# aspect ratio are RoIAligned to 32x32 and the spatial gate is resized back.
_base_ = ['mmseg::deeplabv3/deeplabv3_r101-d8_4xb4-80k_ade20k-512x512.py']
custom_imports = dict(imports=['mmseg_rga'], allow_failed_imports=False)
model = dict(decode_head=dict(type='RGAASPPHead', rga_cfg=dict(pooled_size=(32, 32), order='SC')))
