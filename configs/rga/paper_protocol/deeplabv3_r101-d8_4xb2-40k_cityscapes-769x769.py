# Table 6 row "ResNet-101 + ASPP", paper protocol: DeepLabv3's ASPP (mmseg's ASPPHead: image
# pooling + 1x1 + three 3x3 convs at dilations 12, 24, 36, 512 channels, BN + ReLU, dropout 0.1)
# on C5, with class-weighted CE. OCNet has no plain ASPP model; like its context models this row
# has OCNet's DSN head on layer3 at weight 0.4 (see the _base_ file). The paper does not say
# which auxiliary loss its PPM/ASPP rows used.
_base_ = ['./_base_paper-protocol_r101-d8_4xb2-40k_cityscapes-769x769.py']
model = dict(
    decode_head=dict(
        type='ASPPHead',
        in_channels=2048,
        in_index=3,
        channels=512,
        dilations=(1, 12, 24, 36),
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg={{_base_.norm_cfg}},
        align_corners=True,
        loss_decode={{_base_.loss_decode}}),
    auxiliary_head={{_base_.dsn_head}})
