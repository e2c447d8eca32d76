# Short name: ResNet-101 + PPM + RGA-SC, Cityscapes 769x769, 40k iterations, 4 GPUs x 2 images.
_base_ = ['./pspnet-rga_r101-d8_4xb2-40k_cityscapes-769x769.py']
