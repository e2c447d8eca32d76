# SegFormer-MiT-B0 on ADE20K (mmseg's 160k, 512x512 recipe) + RGA-SC on the all-MLP head's fused
# map (256 channels at output stride 4, 128x128 on a crop): 32x32 nodes of 4x4 pixels.
_base_ = ['mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmseg_rga'], allow_failed_imports=False)
model = dict(
    decode_head=dict(type='RGASegformerHead', rga_cfg=dict(pooled_size=(32, 32), order='SC')))
