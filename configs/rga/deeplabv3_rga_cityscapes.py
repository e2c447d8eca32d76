# Short name: ResNet-101 + ASPP + RGA-SC, Cityscapes 769x769, 40k iterations, 4 GPUs x 2 images.
_base_ = ['./deeplabv3-rga_r101-d8_4xb2-40k_cityscapes-769x769.py']
