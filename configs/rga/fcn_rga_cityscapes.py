# Short name: ResNet-101 + RGA-SC (FCN head), Cityscapes 769x769, 40k iterations, 4x2 images.
_base_ = ['./fcn-rga_r101-d8_4xb2-40k_cityscapes-769x769.py']
