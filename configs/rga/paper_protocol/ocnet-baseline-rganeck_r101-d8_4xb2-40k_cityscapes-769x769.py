# Table 6 row "ResNet-101 + RGA-SC", paper protocol, C5 reading: the ocnet-baseline row with
# RGA-SC on C5 (the backbone's last feature map, 2048 channels) through RGANeck, concatenated with
# C5, so the decode head takes 4096 channels. The paper's sentence ("on the feature map of the
# last convolutional layer and concatenate it with the original features of the baseline network")
# also fits the head reading (ocnet-baseline-rga_*); it does not say which. RGA-SC at 97x97 nodes:
# identity on the 97x97 maps of 769 training crops, RoIAlign on whole test images (see the _base_
# file). Levels other than C5 pass through the neck unchanged (the DSN head on layer3, if any).
_base_ = ['./ocnet-baseline_r101-d8_4xb2-40k_cityscapes-769x769.py']
model = dict(
    neck={{_base_.rga_neck}},
    decode_head=dict(in_channels=4096))
