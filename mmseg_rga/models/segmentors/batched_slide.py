"""An ``EncoderDecoder`` whose sliding-window inference runs the crops in batches.

mmseg's :meth:`EncoderDecoder.slide_inference` calls ``encode_decode`` once per window position
(8 times for a 1024x2048 image with 769 crops and a 513 stride), each time on one crop of every
image of the batch. :class:`BatchedSlideEncoderDecoder` cuts the same windows, stacks the crops of
all images into batches of ``test_cfg.crop_batch`` and runs ``encode_decode`` once per batch;
the logits are accumulated and averaged over the overlaps exactly as mmseg does (same windows,
same order, same ``count_mat``), so the results equal mmseg's slide mode up to fp32 rounding. On
out-of-memory the batch is halved and retried (down to one crop), and the smaller size is kept
for the following images. Everything else (whole mode, padding removal and the resize to
``ori_shape`` in ``postprocess_result``, training) is mmseg's.

Config::

    model = dict(
        type='BatchedSlideEncoderDecoder',
        test_cfg=dict(mode='slide', crop_size=(769, 769), stride=(513, 513), crop_batch=8))
"""
from typing import List, Tuple

import torch
from mmengine.logging import print_log
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from torch import Tensor

from ...checks import InputError

#: crops per ``encode_decode`` call when ``test_cfg`` does not set ``crop_batch``
DEFAULT_CROP_BATCH = 8

Window = Tuple[int, int, int, int]  # y1, y2, x1, x2


def slide_windows(img_size: Tuple[int, int], crop_size: Tuple[int, int],
                  stride: Tuple[int, int]) -> List[Window]:
    """The crop windows of :meth:`EncoderDecoder.slide_inference`, in its order.

    A crop larger than the image is clipped to the image (no padding), so every window of one
    image has the same size, ``min(crop, image)`` per axis.
    """
    (h_img, w_img), (h_crop, w_crop), (h_stride, w_stride) = img_size, crop_size, stride
    h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
    windows = []
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y2 = min(h_idx * h_stride + h_crop, h_img)
            x2 = min(w_idx * w_stride + w_crop, w_img)
            windows.append((max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2))
    return windows


def is_out_of_memory(error: BaseException) -> bool:
    """True for a CUDA out-of-memory error (and the CPU allocator's "can't allocate")."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    message = str(error)
    return isinstance(error, RuntimeError) and ('out of memory' in message
                                                or "can't allocate memory" in message)


@MODELS.register_module()
class BatchedSlideEncoderDecoder(EncoderDecoder):
    """:class:`EncoderDecoder` with batched sliding-window inference.

    Args:
        *args, **kwargs: :class:`EncoderDecoder`'s arguments. ``test_cfg`` may hold
            ``crop_batch`` (int >= 1, default 8): the number of crops, across all images of the
            batch, that go through ``encode_decode`` together in slide mode.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        crop_batch = (self.test_cfg or {}).get('crop_batch', DEFAULT_CROP_BATCH)
        if isinstance(crop_batch, bool) or not isinstance(crop_batch, int) or crop_batch < 1:
            raise InputError(f'test_cfg.crop_batch must be an int >= 1 (crops per '
                             f'encode_decode call); got {crop_batch!r}')
        self.crop_batch = crop_batch

    def slide_inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Sliding-window inference with the crops of all images run in batches.

        Args:
            inputs (Tensor): (N, C, H, W), all images of the batch.
            batch_img_metas (list[dict]): meta info of each image (not modified).

        Returns:
            Tensor: (N, out_channels, H, W) logits averaged over the overlapping windows.
        """
        batch_size, _, h_img, w_img = inputs.shape
        windows = slide_windows((h_img, w_img), self.test_cfg.crop_size, self.test_cfg.stride)
        preds = inputs.new_zeros((batch_size, self.out_channels, h_img, w_img))
        count_mat = inputs.new_zeros((batch_size, 1, h_img, w_img))
        for y1, y2, x1, x2 in windows:
            count_mat[:, :, y1:y2, x1:x2] += 1
        # crops in mmseg's order of accumulation: window by window, each over the images
        jobs = [(window, i) for window in windows for i in range(batch_size)]
        start = 0
        while start < len(jobs):
            chunk = jobs[start:start + self.crop_batch]
            try:
                logits = self._encode_decode_crops(inputs, chunk, batch_img_metas)
            except (RuntimeError, torch.cuda.OutOfMemoryError) as error:
                if not is_out_of_memory(error) or self.crop_batch == 1:
                    raise
                self._shrink_crop_batch(error)
                continue
            for ((y1, y2, x1, x2), i), logit in zip(chunk, logits):
                preds[i, :, y1:y2, x1:x2] += logit
            start += len(chunk)
        assert (count_mat == 0).sum() == 0
        return preds / count_mat

    def _encode_decode_crops(self, inputs: Tensor, chunk: List[Tuple[Window, int]],
                             batch_img_metas: List[dict]) -> Tensor:
        """Stack the crops of ``chunk`` and run ``encode_decode`` once on them."""
        crops = torch.stack([inputs[i, :, y1:y2, x1:x2] for (y1, y2, x1, x2), i in chunk])
        # as mmseg's slide_inference: img_shape is the crop's torch.Size, which tells
        # decode_head.predict to resize the logits to the crop
        metas = [dict(batch_img_metas[i], img_shape=crops.shape[2:]) for _, i in chunk]
        return self.encode_decode(crops, metas)

    def _shrink_crop_batch(self, error: BaseException) -> None:
        """Halve ``crop_batch`` after an out-of-memory error, freeing the cached blocks."""
        old, self.crop_batch = self.crop_batch, max(self.crop_batch // 2, 1)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        print_log(f'Out of memory with {old} crops per batch in slide inference, retrying with '
                  f'{self.crop_batch}: {str(error).splitlines()[0]}', logger='current',
                  level=30)
