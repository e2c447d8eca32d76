"""rga_head's rule (mmseg_rga/models/heads/head_rule.py) on user heads written here: a helper
that reaches cls_seg, one that never does, sources that cannot be read; and the mmseg heads it
accepts, which must be the same on every supported Python."""
import sys

import mmseg.models.decode_heads as decode_heads
import pytest
import torch
from mmseg.models.decode_heads import FCNHead

import mmseg_rga  # noqa: F401  (registers the modules)
from mmseg_rga.models.heads import forward_reaches_cls_seg, rga_head
from mmseg_rga.models.heads.all_heads import _decode_head_classes
from mmseg_rga.models.heads.head_rule import function_node, unreadable_methods

pytestmark = pytest.mark.usefixtures('one_thread')


class ViaHelper(FCNHead):
    """forward -> self.classify() -> self.cls_seg: reaches it only through its own helper."""

    def forward(self, inputs):
        return self.classify(self._forward_feature(inputs))

    def classify(self, feat):
        return self.cls_seg(feat) * 1.0


class HelperWithoutClassifier(FCNHead):
    """forward -> self.project() -> conv_seg directly: never through cls_seg."""

    def forward(self, inputs):
        return self.project(self._forward_feature(inputs))

    def project(self, feat):
        return self.conv_seg(feat)


def _unreadable(name, body, base=FCNHead):
    """A head class defined by exec: its methods have no source file to read."""
    namespace = {'base': base}
    exec(compile(f'class {name}(base):\n{body}', '<generated head>', 'exec'), namespace)
    return namespace[name]


FORWARD_TO_CLS_SEG = ('    def forward(self, inputs):\n'
                      '        return self.cls_seg(self._forward_feature(inputs))\n')
HELPER_TO_CLS_SEG = ('    def helper(self, feat):\n'
                     '        return self.cls_seg(feat)\n')
PREPARE = ('    def prepare(self, feat):\n'
           '        return feat * 1.0\n')


def _gate_runs(cls):
    head = cls(in_channels=8, channels=8, num_classes=3, rga_cfg=dict(pooled_size=4)).eval()
    calls = []
    head.rga.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        assert head([torch.randn(1, 8, 6, 7)]).shape == (1, 3, 6, 7)
    return calls == [1]


def test_a_helper_that_reaches_cls_seg_is_followed():
    assert forward_reaches_cls_seg(ViaHelper) is True
    assert _gate_runs(rga_head(ViaHelper))


def test_a_helper_that_never_reaches_cls_seg_is_refused():
    assert forward_reaches_cls_seg(HelperWithoutClassifier) is False
    with pytest.raises(ValueError, match=r'HelperWithoutClassifier\.forward never reaches '
                                         'cls_seg, so RGA would be built and never used'):
        rga_head(HelperWithoutClassifier)


def test_unreadable_forward_is_refused_and_named():
    cls = _unreadable('Generated', FORWARD_TO_CLS_SEG)
    assert function_node(cls.forward) is None
    assert forward_reaches_cls_seg(cls) is None and unreadable_methods(cls) == ['Generated.forward']
    with pytest.raises(ValueError) as err:
        rga_head(cls)
    message = str(err.value)
    assert '\n' not in message
    assert message.startswith('rga_head cannot check Generated: the source of Generated.forward '
                              'cannot be read, and no readable path from its forward reaches '
                              'self.cls_seg'), message
    assert message.endswith('class RGAGenerated(RGAHeadMixin, Generated)')


def test_unreadable_helper_refuses_unless_a_readable_path_reaches_cls_seg():
    donor = _unreadable('Donor', HELPER_TO_CLS_SEG + PREPARE)

    class OnlyThroughHelper(FCNHead):
        def forward(self, inputs):
            return self.helper(self._forward_feature(inputs))

    class AlsoDirect(FCNHead):
        def forward(self, inputs):
            feat = self.helper(self._forward_feature(inputs))
            return self.cls_seg(feat)

    OnlyThroughHelper.helper, AlsoDirect.helper = donor.helper, donor.prepare
    assert forward_reaches_cls_seg(OnlyThroughHelper) is None
    assert unreadable_methods(OnlyThroughHelper) == ['OnlyThroughHelper.helper']
    with pytest.raises(ValueError, match='the source of OnlyThroughHelper.helper cannot be read'):
        rga_head(OnlyThroughHelper)
    assert forward_reaches_cls_seg(AlsoDirect) is True
    assert _gate_runs(rga_head(AlsoDirect))


def test_wrapped_and_static_methods_are_read_through():
    """A decorated forward is read where it was written, not as its wrapper."""
    import functools

    def logged(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs)
        return wrapper

    class Decorated(FCNHead):
        @logged
        def forward(self, inputs):
            return self.cls_seg(self.finish(self._forward_feature(inputs)))

        @staticmethod
        def finish(feat):
            return feat * 1.0

    assert function_node(Decorated.forward).name == 'forward'
    assert function_node(vars(Decorated)['finish']).name == 'finish'
    assert forward_reaches_cls_seg(Decorated) is True
    assert _gate_runs(rga_head(Decorated))


def test_mmseg_heads_get_a_definite_answer_on_this_python():
    """Every mmseg 1.2.2 decode head's source is readable here (no unknown), and the accepted
    ones are test_all_heads.ACCEPTED: on 3.9 and 3.10 as on 3.11+."""
    from test_all_heads import ACCEPTED, REFUSED
    answers = {c.__name__: forward_reaches_cls_seg(c) for c in _decode_head_classes()}
    assert None not in answers.values(), sys.version
    assert sorted(n for n, a in answers.items() if a) == sorted(ACCEPTED)
    assert set(REFUSED) <= {n for n, a in answers.items() if a is False}
    assert len(answers) == len(ACCEPTED) + len(REFUSED) == 34
    assert forward_reaches_cls_seg(decode_heads.PSPHead) is True


def test_registration_skips_and_explains_an_unreadable_head(monkeypatch):
    from mmseg.registry import MODELS

    from mmseg_rga.models.heads import all_heads
    cls = _unreadable('GeneratedHead', FORWARD_TO_CLS_SEG)
    registered = []
    monkeypatch.setattr(all_heads, '_decode_head_classes', lambda: [cls])
    monkeypatch.setattr(MODELS, 'register_module', lambda **kw: registered.append(kw))
    assert all_heads.register_rga_heads() == [] and registered == []
    assert all_heads.why_not_registered('GeneratedHead') == (
        'the source of GeneratedHead.forward cannot be read, so there is no telling whether '
        'GeneratedHead.forward reaches cls_seg, where RGA is applied')
