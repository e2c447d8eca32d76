# Table 6 row "ResNet-101", paper protocol: OCNet's baseline network (OCNet
# network/resnet101_baseline.py:63-68): 3x3 conv 2048->512, BN + leaky ReLU (InPlaceABNSync),
# Dropout2d(0.05), 1x1 classifier; class-weighted CE and no auxiliary loss (the method
# 'baseline' has no DSN: OCNet train.py:108-109). mmseg's FCNHead with one 3x3 conv and no
# concatenated input is that head. DEVIATION: OCNet's 3x3 conv has a bias before the BN
# (ConvModule drops it; the BN cancels it). Shared settings: the _base_ file.
_base_ = ['./_base_paper-protocol_r101-d8_4xb2-40k_cityscapes-769x769.py']
model = dict(
    decode_head=dict(
        type='FCNHead',
        in_channels=2048,
        in_index=3,
        channels=512,
        num_convs=1,
        kernel_size=3,
        concat_input=False,
        dropout_ratio=0.05,
        num_classes=19,
        norm_cfg={{_base_.norm_cfg}},
        act_cfg={{_base_.ocnet_act_cfg}},
        align_corners=True,  # OCNet (torch 0.4) upsamples with align_corners=True
        loss_decode={{_base_.loss_decode}}),
    auxiliary_head=None)
