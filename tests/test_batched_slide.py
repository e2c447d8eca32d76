"""BatchedSlideEncoderDecoder equals mmseg's slide inference (tiny ResNetV1c + RGAPSPHead, CPU)."""
import copy

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_rga  # noqa: F401  (registers the modules)
from mmseg_rga.models.segmentors import BatchedSlideEncoderDecoder, slide_windows

NORM = dict(type='BN', requires_grad=True)


def _cfg(crop_size, stride, crop_batch=None, segmentor='BatchedSlideEncoderDecoder'):
    test_cfg = dict(mode='slide', crop_size=crop_size, stride=stride)
    if crop_batch is not None:
        test_cfg['crop_batch'] = crop_batch
    return ConfigDict(
        type=segmentor,
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8,
                      num_stages=4, out_indices=(0, 1, 2, 3), dilations=(1, 1, 2, 4),
                      strides=(1, 2, 1, 1), norm_cfg=NORM, contract_dilation=True),
        decode_head=dict(type='RGAPSPHead', in_channels=64, in_index=3, channels=16,
                         pool_scales=(1, 2, 3), num_classes=5, norm_cfg=NORM,
                         align_corners=False, rga_cfg=dict(pooled_size=(5, 5), ratio_spatial=4)),
        test_cfg=test_cfg)


def _build(crop_size=(48, 48), stride=(32, 32), crop_batch=None):
    """The batched model and mmseg's EncoderDecoder with the same weights, in eval mode."""
    init_default_scope('mmseg')
    torch.manual_seed(0)
    batched = MODELS.build(_cfg(crop_size, stride, crop_batch)).eval()
    for m in batched.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    reference = MODELS.build(_cfg(crop_size, stride, segmentor='EncoderDecoder')).eval()
    reference.load_state_dict(batched.state_dict())
    return batched, reference


def _metas(batch, size):
    return [dict(ori_shape=size, img_shape=size, pad_shape=size, padding_size=[0, 0, 0, 0])
            for _ in range(batch)]


def _mmseg_slide(model, inputs):
    return EncoderDecoder.slide_inference(model, inputs, _metas(inputs.shape[0],
                                                                inputs.shape[2:]))


@pytest.mark.parametrize('size, crop, stride, batch, crop_batch', [
    ((64, 128), (48, 48), (32, 32), 1, 3),     # 2x4 windows, 8 crops in batches of 3
    ((97, 150), (48, 64), (31, 45), 2, 8),     # strides that do not divide, 2 images
    ((30, 40), (48, 48), (32, 32), 2, 2),      # image smaller than the crop: one clipped crop
    ((70, 33), (48, 48), (17, 32), 1, 4),      # taller than the crop, narrower than it
])
@torch.no_grad()
def test_equals_mmseg_slide_inference(size, crop, stride, batch, crop_batch):
    model, reference = _build(crop, stride, crop_batch)
    torch.manual_seed(1)
    inputs = torch.randn(batch, 3, *size)
    metas = _metas(batch, size)
    expected = EncoderDecoder.slide_inference(reference, inputs, copy.deepcopy(metas))
    out = model.slide_inference(inputs, metas)
    assert out.shape == (batch, 5, *size)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert metas == _metas(batch, size)  # the caller's metas are left alone


@torch.no_grad()
def test_runs_all_crops_of_all_images_in_batches(monkeypatch):
    model, _ = _build(crop_batch=3)
    inputs = torch.randn(2, 3, 64, 128)
    windows = slide_windows((64, 128), (48, 48), (32, 32))
    assert len(windows) == 2 * 4
    calls = []
    original = model.encode_decode

    def spy(crops, metas):
        calls.append((crops.shape[0], len(metas), tuple(metas[0]['img_shape'])))
        return original(crops, metas)

    monkeypatch.setattr(model, 'encode_decode', spy)
    model.slide_inference(inputs, _metas(2, (64, 128)))
    assert [c[0] for c in calls] == [3, 3, 3, 3, 3, 1]  # 16 crops of 2 images, batches of 3
    assert all(n == m and shape == (48, 48) for n, m, shape in calls)


@pytest.mark.parametrize('error', [
    torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB'),
    RuntimeError('CUDA error: out of memory'),
])
@torch.no_grad()
def test_halves_crop_batch_on_out_of_memory(monkeypatch, error):
    model, reference = _build(crop_batch=8)
    inputs = torch.randn(1, 3, 64, 128)
    original = model.encode_decode
    sizes = []

    def limited(crops, metas):
        sizes.append(crops.shape[0])
        if crops.shape[0] > 2:
            raise error
        return original(crops, metas)

    monkeypatch.setattr(model, 'encode_decode', limited)
    out = model.slide_inference(inputs, _metas(1, (64, 128)))
    assert sizes == [8, 4, 2, 2, 2, 2]
    assert model.crop_batch == 2  # kept for the next images
    torch.testing.assert_close(out, _mmseg_slide(reference, inputs), rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_other_errors_and_out_of_memory_at_one_crop_propagate(monkeypatch):
    model, _ = _build(crop_batch=2)
    inputs = torch.randn(1, 3, 64, 128)

    def broken(crops, metas):
        raise RuntimeError('shape mismatch')

    monkeypatch.setattr(model, 'encode_decode', broken)
    with pytest.raises(RuntimeError, match='shape mismatch'):
        model.slide_inference(inputs, _metas(1, (64, 128)))
    assert model.crop_batch == 2

    def out_of_memory(crops, metas):
        raise torch.cuda.OutOfMemoryError('CUDA out of memory')

    monkeypatch.setattr(model, 'encode_decode', out_of_memory)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        model.slide_inference(inputs, _metas(1, (64, 128)))
    assert model.crop_batch == 1


@torch.no_grad()
def test_predict_equals_mmseg_with_padding_and_ori_shape():
    """The whole predict path: padding removed and logits resized to ori_shape as mmseg does."""
    model, reference = _build(crop_batch=5)
    torch.manual_seed(2)
    inputs = torch.randn(2, 3, 64, 96)
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(ori_shape=(50, 90), img_shape=(60, 90),
                                             pad_shape=(64, 96), padding_size=[0, 6, 0, 4]))
        sample.gt_sem_seg = PixelData(data=torch.zeros(1, 50, 90, dtype=torch.long))
        samples.append(sample)
    out = model.predict(inputs, copy.deepcopy(samples))
    expected = reference.predict(inputs, copy.deepcopy(samples))
    for got, want in zip(out, expected):
        assert got.seg_logits.data.shape == (5, 50, 90)
        torch.testing.assert_close(got.seg_logits.data, want.seg_logits.data, rtol=1e-5,
                                   atol=1e-5)
        assert torch.equal(got.pred_sem_seg.data, want.pred_sem_seg.data)


def test_default_and_invalid_crop_batch():
    init_default_scope('mmseg')
    assert MODELS.build(_cfg((48, 48), (32, 32))).crop_batch == 8
    assert isinstance(MODELS.build(_cfg((48, 48), (32, 32))), BatchedSlideEncoderDecoder)
    for bad in (0, -2, 2.0, '4', True):
        with pytest.raises(ValueError, match='crop_batch must be an int >= 1'):
            MODELS.build(_cfg((48, 48), (32, 32), crop_batch=bad))
