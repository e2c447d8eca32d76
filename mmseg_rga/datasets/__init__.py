"""Registered data transforms (``CheckSegLabelRange``); synthetic scenes live in ``.synthetic``."""
from .transforms import CheckSegLabelRange, LabelValueError

__all__ = ['CheckSegLabelRange', 'LabelValueError']
