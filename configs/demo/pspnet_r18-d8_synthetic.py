# Baseline of tools/demo.py: PSPNet on a dilated ResNetV1c-18 (output stride 8), trained from
# scratch on the synthetic Cityscapes-format scenes of
#   python tools/dataset_converters/generate_synthetic_cityscapes.py \
#       --out data/synthetic_cityscapes --size 128 256
# Small enough for a CPU (about 0.2 s an iteration on 2 quiet cores): half-width ResNetV1c-18 (stage
# widths 32-64-128-256), 128x128 crops, batch 4, BN (not SyncBN), no pretrained weights.
_base_ = [
    'mmseg::_base_/models/pspnet_r50-d8.py', 'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_20k.py'
]
custom_imports = dict(imports=['mmseg_rga'], allow_failed_imports=False)

data_root = 'data/synthetic_cityscapes'
img_scale = (256, 128)  # (w, h) of the generated images
crop_size = (128, 128)
max_iters = 1000
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=18, stem_channels=32, base_channels=32, norm_cfg=norm_cfg, init_cfg=None),
    decode_head=dict(in_channels=256, channels=64, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=128, channels=32, norm_cfg=norm_cfg),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(85, 85)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0005)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters))
