# Alternative placement for the "ResNet-101 + RGA-SC" row (80k): RGA-SC on C5 (2048 channels)
# through RGANeck, concatenated with C5, then mmseg's FCN head on the 4096-channel result.
# Costs far more parameters than fcn-rga_* (see README.md); the auxiliary head on layer3 is
# unchanged because the neck passes the other levels through.
_base_ = ['mmseg::fcn/fcn_r101-d8_4xb2-80k_cityscapes-769x769.py']
custom_imports = dict(imports=['mmseg_rga'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    neck=dict(
        type='RGANeck',
        in_channels=[256, 512, 1024, 2048],
        in_index=3,
        fusion='concat',
        rga_cfg=dict(pooled_size=(33, 33), order='SC', norm_cfg=norm_cfg, align_corners=True)),
    decode_head=dict(in_channels=4096))
