# Table 6 row "ResNet-101 + ASPP + RGA-SC" (40k): mmseg's deeplabv3 R-101-D8 769x769 config with
# RGA-SC on the output of the ASPP bottleneck (512 channels), concatenated with it before the
# classifier (which sees 1024 channels). The RGA block takes the head's norm_cfg (SyncBN) and
# align_corners (True); 97x97 maps at a 769 crop are RoIAligned to 33x33 nodes, which map back
# exactly since (33 - 1) divides (97 - 1).
_base_ = ['mmseg::deeplabv3/deeplabv3_r101-d8_4xb2-40k_cityscapes-769x769.py']
custom_imports = dict(imports=['mmseg_rga'], allow_failed_imports=False)
# r_c = r_s = r_d = 8: RGABlock's and the official RGA_Module's defaults, the paper's re-id setting
# (s1 = s2 = 8); the paper gives no ratios for segmentation (CIFAR: 4 or 8).
rga_cfg = dict(pooled_size=(33, 33), order='SC', ratio_channel=8, ratio_spatial=8, ratio_logit=8)
model = dict(decode_head=dict(type='RGAASPPHead', rga_cfg=rga_cfg))
