"""``RGA<Name>`` for every mmseg decode head that can carry RGA on its classifier input.

:func:`register_rga_heads` (run when :mod:`mmseg_rga.models.heads` is imported) registers
``rga_head(<Name>)`` into mmseg's ``MODELS`` for every class of ``mmseg.models.decode_heads`` that
:func:`~.rga_heads.rga_head`'s rule accepts (its ``forward`` reaches ``self.cls_seg``), except
the heads in :data:`LEFT_OUT`, and except names already registered (the four hand-written heads
of :mod:`.rga_heads` keep their classes and docstrings). Nothing else happens on import.

:func:`explain_missing_rga_type` turns mmengine's "RGAXHead is not in the mmseg::model registry"
into one line naming the registered RGA heads and, where it applies, why ``XHead`` is not one.
"""
import difflib
import re
from typing import Dict, List

import mmseg.models.decode_heads as decode_heads
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS

from .head_rule import forward_reaches_cls_seg, unreadable_methods
from .rga_heads import rga_head

#: Heads the rule accepts but where RGA on the classifier input makes no sense or cannot work;
#: docs/usage.md ("Decode heads") prints this table.
LEFT_OUT: Dict[str, str] = {
    'DAHead': 'three classifiers on one head (pam_cls_seg, cam_cls_seg, cls_seg), trained with '
              'equal loss weights: RGA on cls_seg would gate only the fused branch, the other '
              'two would stay unattended (put RGANeck before it instead)',
    'PointHead': 'its cls_seg is a Conv1d over sampled points (B, C, P), not a feature map: '
                 'there is no spatial map to pool and gate, and it deletes conv_seg',
    'STDCHead': "STDC's detail head: a training-only auxiliary head whose loss turns the labels "
                'into a 2-class boundary target; RGA there never runs at inference',
}

_MISSING = re.compile(r'^(?P<type>\S+) is not in the (?P<registry>\S+::model) registry')


def _decode_head_classes() -> List[type]:
    """mmseg's decode heads: the BaseDecodeHead subclasses ``mmseg.models.decode_heads`` exports."""
    classes = (getattr(decode_heads, name) for name in dict.fromkeys(decode_heads.__all__))
    return [c for c in classes if isinstance(c, type) and issubclass(c, BaseDecodeHead)]


def register_rga_heads() -> List[str]:
    """Register ``RGA<Name>`` for every wrappable mmseg decode head; returns the new names."""
    added = []
    for cls in _decode_head_classes():
        name = f'RGA{cls.__name__}'
        if (cls.__name__ in LEFT_OUT or name in MODELS.module_dict
                or forward_reaches_cls_seg(cls) is not True):
            continue
        wrapped = rga_head(cls)
        wrapped.__module__ = __name__  # importable (and picklable) from here
        globals()[name] = wrapped
        MODELS.register_module(module=wrapped)
        added.append(name)
    return added


def registered_rga_heads() -> List[str]:
    """Sorted names of the RGA decode heads in ``MODELS``."""
    return sorted(name for name, cls in MODELS.module_dict.items() if name.startswith('RGA')
                  and isinstance(cls, type) and issubclass(cls, BaseDecodeHead))


def why_not_registered(base_name: str) -> str:
    """Why ``RGA<base_name>`` is not a registered head (for the one-line error)."""
    if base_name in LEFT_OUT:
        return f'{base_name} is left out on purpose: {LEFT_OUT[base_name]}'
    heads = {c.__name__: c for c in _decode_head_classes()}
    reaches = forward_reaches_cls_seg(heads[base_name]) if base_name in heads else True
    if reaches is None:
        return (f'the source of {", ".join(unreadable_methods(heads[base_name]))} cannot be '
                f'read, so there is no telling whether {base_name}.forward reaches cls_seg, '
                'where RGA is applied')
    if not reaches:
        return (f'{base_name}.forward never reaches cls_seg, where RGA is applied, so RGA would '
                'be built and never used (put RGANeck before it instead)')
    close = difflib.get_close_matches(f'RGA{base_name}', registered_rga_heads(), n=1)
    hint = f' (did you mean {close[0]!r}?)' if close else ''
    return f'mmseg has no decode head named {base_name!r}{hint}'


def explain_missing_rga_type(message: str) -> str:
    """``message`` with the RGA heads named, when it is mmengine's registry miss of ``RGA*``.

    Any other message comes back unchanged.
    """
    match = _MISSING.match(message)
    if match is None or not match['type'].startswith('RGA'):
        return message
    missing = match['type']
    return (f'{missing} is not in the {match["registry"]} registry. '
            f'{why_not_registered(missing[3:])}; registered RGA decode heads: '
            f'{", ".join(registered_rga_heads())}')


def left_out_table() -> str:
    """The Markdown table of :data:`LEFT_OUT` that docs/usage.md carries (a test compares them)."""
    lines = ['| head | why there is no `RGA<Name>` |', '| --- | --- |']
    lines += [f'| `{name}` | {reason} |' for name, reason in LEFT_OUT.items()]
    return '\n'.join(lines)
