# RGA-SC model of tools/demo.py: the baseline (pspnet_r18-d8_synthetic.py) with RGA-SC on the PSP
# head's last feature map, concatenated with it before the classifier (RGAPSPHead). 128x128 crops
# give 16x16 feature maps at output stride 8, so the relation layers are built for 16x16 nodes.
_base_ = ['./pspnet_r18-d8_synthetic.py']
model = dict(
    decode_head=dict(type='RGAPSPHead', rga_cfg=dict(pooled_size=(16, 16), order='SC')))
