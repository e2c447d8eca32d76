# Shared part of the paper-protocol family: Table 6 of "Relation-Aware Global Attention"
# (arXiv 1904.02998, §4.2; the CVPR 2020 re-id paper has the same section) trained and tested as
# OCNet's public code does. §4.2: "We use the similar training setting as in [50]" (OCNet); the
# recipe below is read from openseg-group/OCNet.pytorch at commit 679a45b (cited as OCNet
# <file>:<line>). The rows (decode/auxiliary heads, RGA) are the other files of this folder.
# Every place where mmseg cannot express OCNet's recipe exactly says "DEVIATION".
# Nothing of this family has been trained on Cityscapes (see ../README.md).
_base_ = [
    'mmseg::_base_/datasets/cityscapes.py', 'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py'
]
custom_imports = dict(imports=['mmseg_rga'], allow_failed_imports=False)

crop_size = (769, 769)  # OCNet run_resnet101_baseline.sh:16 INPUT_SIZE='769,769'
norm_cfg = dict(type='SyncBN', requires_grad=True)  # OCNet: InPlaceABNSync (synchronized BN)
# OCNet's head BNs are InPlaceABNSync with their default activation, leaky ReLU of slope 0.01
# (OCNet inplace_abn/bn.py:122-123); used in the heads OCNet defines (baseline head, DSN head).
ocnet_act_cfg = dict(type='LeakyReLU', negative_slope=0.01)
# OCNet's Cityscapes class weights (train ids 0..18), OCNet utils/criterion.py:23 (same list at
# :44 and :104); run_resnet101_baseline.sh:17 USE_CLASS_BALANCE=True.
class_weight = [
    0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786, 1.0023, 0.9539, 0.9843,
    1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529, 1.0507
]
# torch.nn.CrossEntropyLoss(weight, ignore_index=255): mean weighted by the weights of the valid
# pixels (OCNet utils/criterion.py:24). mmseg 1.2.2's CrossEntropyLoss(class_weight=...) raises
# IndexError on ignore labels (open-mmlab/mmsegmentation#3492), hence the plugin's loss.
loss_decode = dict(type='ClassWeightedCrossEntropyLoss', class_weight=class_weight,
                   loss_weight=1.0)
# OCNet's DSN supervision (models whose name ends in _dsn, OCNet train.py:109-117): a head on
# layer3 (OCNet network/resnet101_asp_oc.py:72-77: 3x3 conv 1024->512, BN + leaky ReLU, dropout
# 0.10, 1x1 classifier), loss 0.4 * CE(dsn) + CE(main) (utils/criterion.py:66,
# config/__init__.py:91). Used by the PPM and ASPP rows (OCNet's context models all have it); the
# plain baseline has none. DEVIATION: OCNet's convs carry a bias before BN (mmseg's ConvModule
# drops it; BN cancels it).
dsn_head = dict(
    type='FCNHead', in_channels=1024, in_index=2, channels=512, num_convs=1, kernel_size=3,
    concat_input=False, dropout_ratio=0.1, num_classes=19, norm_cfg=norm_cfg,
    act_cfg=ocnet_act_cfg, align_corners=True,
    loss_decode=dict(type='ClassWeightedCrossEntropyLoss', class_weight=class_weight,
                     loss_weight=0.4))
# RGA-SC at the native node count: 97x97 = 9409 nodes, the C5 / head map of a 769 crop, so
# training maps pass the RoIAlign step unchanged (identity) and whole 1024x2048 test images
# (128x256 maps with mmseg's ResNetV1c) are RoIAligned to 97x97 and the spatial gate resized back
# (paper, "Discussion"). r_c = r_s = r_d = 8: the official RGA_Module's defaults and the paper's
# re-id setting (s1 = s2 = 8); the paper gives no ratios for segmentation (CIFAR: 4 or 8).
# norm_cfg and align_corners are the heads' own (the head wrappers would default to them anyway);
# written out so that RGANeck, which has no head to take them from, gets the same block.
rga_cfg = dict(pooled_size=(97, 97), order='SC', ratio_channel=8, ratio_spatial=8,
               ratio_logit=8, norm_cfg=norm_cfg, align_corners=True)
# The C5 reading (the *-rganeck rows): RGA-SC on the backbone's last level, concatenated with it
# (the decode head then takes 4096 channels); the other levels pass through unchanged.
rga_neck = dict(type='RGANeck', in_channels=[256, 512, 1024, 2048], in_index=3, fusion='concat',
                rga_cfg=rga_cfg)

data_preprocessor = dict(
    type='SegDataPreProcessor',
    # DEVIATION: OCNet subtracts a caffe-style mean without dividing by a std (OCNet
    # dataset/cityscapes.py:98-101) for its own ImageNet ResNet-101; mmseg's ResNetV1c weights
    # expect this normalization.
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,  # OCNet pads the mean-subtracted image with 0 and the label with 255
    seg_pad_val=255,  # (dataset/cityscapes.py:119-127); mmseg pads after normalizing: the same
    size=crop_size)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    # DEVIATION: OCNet loads its own ImageNet ResNet-101 with a 64-64-128 deep stem
    # (network/resnet101_baseline.py:46-55, run_resnet101_baseline.sh:27); mmseg's ResNetV1c-101
    # has a 32-32-64 stem and its ImageNet weights are open-mmlab://resnet101_v1c.
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(
        type='ResNetV1c',
        depth=101,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        # layer3 dilation 2, layer4 dilation 4, stride 8 (network/resnet101_baseline.py:60-62)
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        # OCNet dilates the first block of layer3/layer4 too (multi_grid (1, 1, 1), no
        # contraction; utils/resnet_block.py:49); mmseg's own configs contract it (True).
        contract_dilation=False),
    # DEVIATION: OCNet's stem max-pool has ceil_mode=True (network/resnet101_baseline.py:58), so a
    # 1024x2048 image gives 129x257 maps there and 128x256 with mmseg's ResNet (769 crops: 97x97
    # in both).
    train_cfg=dict(),
    # whole 1024x2048 images, single scale, no flip (run_resnet101_baseline.sh:46-51, eval.py:139)
    test_cfg=dict(mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # DEVIATION: OCNet draws the scale from the 17 values 0.5, 0.6, ..., 2.1
    # (dataset/cityscapes.py:67: 0.5 + randint(0, 16) / 10); RandomResize draws it uniformly from
    # [0.5, 2.1].
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.1), keep_ratio=True),
    # a plain random crop (cat_max_ratio=1.0: no category-ratio retries),
    # OCNet dataset/cityscapes.py:132-135
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),  # dataset/cityscapes.py:137-140
    # no PhotoMetricDistortion: OCNet has no photometric augmentation
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),  # identity on Cityscapes images
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# 4 GPUs x 2 images = OCNet's batch 8 on 4 GPUs (run_resnet101_baseline.sh:15, :38)
train_dataloader = dict(batch_size=2, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
# Table 6's "Mean IoU (Train.)" column: OCNet also evaluates the train split whole-image
# (run_resnet101_baseline.sh:70-79); here with tools/test.py and
#   --cfg-options test_dataloader.dataset.data_prefix.img_path=leftImg8bit/train \
#                 test_dataloader.dataset.data_prefix.seg_map_path=gtFine/train
test_dataloader = val_dataloader

# SGD lr 0.01, momentum 0.9, weight decay 5e-4 on every parameter, one group
# (run_resnet101_baseline.sh:11-12, train.py:133-134, config/__init__.py:34)
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
# lr = 0.01 * (1 - iter / 40000) ** 0.9, down to 0 (train.py:46-53, config/__init__.py:44)
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=40000, by_epoch=False)
]
# 40k iterations (run_resnet101_baseline.sh:14); OCNet evaluates once, after training
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=40000)
