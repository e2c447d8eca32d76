# Table 6 row "ResNet-101 + PPM", paper protocol: PSPNet's pyramid pooling module (mmseg's
# PSPHead: bins 1, 2, 3, 6, 512 channels, BN + ReLU as in PSPNet, dropout 0.1) on C5, with
# class-weighted CE. OCNet has no plain PPM model; like its context models (pyramid_oc_dsn,
# asp_oc_dsn) this row has OCNet's DSN head on layer3 at weight 0.4 (see the _base_ file). The
# paper does not say which auxiliary loss its PPM/ASPP rows used.
_base_ = ['./_base_paper-protocol_r101-d8_4xb2-40k_cityscapes-769x769.py']
model = dict(
    decode_head=dict(
        type='PSPHead',
        in_channels=2048,
        in_index=3,
        channels=512,
        pool_scales=(1, 2, 3, 6),
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg={{_base_.norm_cfg}},
        align_corners=True,
        loss_decode={{_base_.loss_decode}}),
    auxiliary_head={{_base_.dsn_head}})
