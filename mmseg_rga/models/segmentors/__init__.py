"""Segmentors; importing this package registers them into ``mmseg.registry.MODELS``."""
from .batched_slide import BatchedSlideEncoderDecoder, slide_windows

__all__ = ['BatchedSlideEncoderDecoder', 'slide_windows']
