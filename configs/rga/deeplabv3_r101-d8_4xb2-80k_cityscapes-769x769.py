# Table 6 row "ResNet-101 + ASPP" (baseline, 80k): mmseg's own config, unchanged.
_base_ = ['mmseg::deeplabv3/deeplabv3_r101-d8_4xb2-80k_cityscapes-769x769.py']
