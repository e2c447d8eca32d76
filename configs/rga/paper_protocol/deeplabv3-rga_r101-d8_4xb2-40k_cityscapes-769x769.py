# Table 6 row "ResNet-101 + ASPP + RGA-SC", paper protocol, head reading: the deeplabv3 row with
# RGA-SC on the head's last feature map (the ASPP bottleneck output, 512 channels), concatenated
# with it before the classifier (1024 channels in). The paper's sentence ("on the feature map of
# the last convolutional layer and concatenate it with the original features of the baseline
# network") also fits the C5 reading (deeplabv3-rganeck_*); it does not say which. RGA-SC at 97x97
# nodes: identity on the 97x97 maps of 769 training crops, RoIAlign on whole test images (see the
# _base_ file).
_base_ = ['./deeplabv3_r101-d8_4xb2-40k_cityscapes-769x769.py']
model = dict(decode_head=dict(type='RGAASPPHead', rga_cfg={{_base_.rga_cfg}}))
