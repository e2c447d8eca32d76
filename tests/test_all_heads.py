"""Every ``RGA<Name>`` registered on import: the list, the error for the others, and each head
built with its mmseg defaults at tiny widths (parameters, forward + backward, gates used).

Head arguments follow mmseg 1.2.2's own configs (``configs/<method>/``, ``_base_/models/``) with
the widths shrunk; CPU, inputs of a few pixels.
"""
import copy
import re

import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_rga  # noqa: F401  (registers the modules)
from mmseg_rga.models import RGABlock, RGAHeadMixin
from mmseg_rga.models.heads import LEFT_OUT, explain_missing_rga_type, rga_heads
from mmseg_rga.models.heads.all_heads import left_out_table, registered_rga_heads

# The heads rga_head's rule accepts in mmseg 1.2.2, written out by hand.
ACCEPTED = ('ANNHead APCHead ASPPHead CCHead DAHead DDRHead DMHead DNLHead DPTHead '
            'DepthwiseSeparableASPPHead DepthwiseSeparableFCNHead EMAHead EncHead FCNHead FPNHead '
            'GCHead ISAHead LRASPPHead LightHamHead NLHead OCRHead PIDHead PSAHead PSPHead '
            'PointHead SETRMLAHead SETRUPHead STDCHead SegformerHead UPerHead').split()
REFUSED = ('SegmenterMaskTransformerHead', 'VPDDepthHead', 'SideAdapterCLIPHead',
           'IterativeDecodeHead')
C, K, B = 8, 3, 2  # head channels, classes, batch
ML = dict(in_index=[0, 1, 2, 3])  # multi-level heads read four levels

# base head -> (its arguments besides channels / num_classes, input levels (C, H, W), call kind)
SPECS = {
    'ANNHead': (dict(in_channels=[4, 8], in_index=[0, 1], project_channels=4,
                     key_pool_scales=(1, 2)), [(4, 6, 7), (8, 6, 7)], None),
    'APCHead': (dict(in_channels=8, pool_scales=(1, 2)), [(8, 6, 7)], None),
    'ASPPHead': (dict(in_channels=8, dilations=(1, 2)), [(8, 6, 7)], None),
    'CCHead': (dict(in_channels=8), [(8, 6, 7)], None),
    'DDRHead': (dict(in_channels=8, loss_decode=[dict(type='CrossEntropyLoss')] * 2),
                [(4, 6, 7), (8, 6, 7)], 'ddr'),
    'DMHead': (dict(in_channels=8, filter_sizes=(1, 3)), [(8, 6, 7)], None),
    'DNLHead': (dict(in_channels=8), [(8, 6, 7)], None),
    'DPTHead': (dict(in_channels=(8, ) * 4, embed_dims=8, post_process_channels=[4, 4, 8, 8],
                     readout_type='project', input_transform='multiple_select', **ML),
                [(8, 4, 4)] * 4, 'dpt'),
    'DepthwiseSeparableASPPHead': (dict(in_channels=8, in_index=1, dilations=(1, 2),
                                        c1_in_channels=4, c1_channels=4),
                                   [(4, 12, 14), (8, 6, 7)], None),
    'DepthwiseSeparableFCNHead': (dict(in_channels=8, concat_input=False), [(8, 6, 7)], None),
    'EMAHead': (dict(in_channels=8, ema_channels=8, num_bases=4, num_stages=2),
                [(8, 6, 7)], None),
    'EncHead': (dict(in_channels=[4, 4, 8], in_index=(0, 1, 2), num_codes=4),
                [(4, 6, 7), (4, 6, 7), (8, 6, 7)], None),
    'FCNHead': (dict(in_channels=8), [(8, 6, 7)], None),
    'FPNHead': (dict(in_channels=[4] * 4, feature_strides=[4, 8, 16, 32], **ML),
                [(4, 16, 16), (4, 8, 8), (4, 4, 4), (4, 2, 2)], None),
    'GCHead': (dict(in_channels=8), [(8, 6, 7)], None),
    'ISAHead': (dict(in_channels=8, isa_channels=4, down_factor=(4, 4)), [(8, 6, 7)], None),
    'LRASPPHead': (dict(in_channels=(4, 4, 8), in_index=(0, 1, 2), branch_channels=(4, 4),
                        input_transform='multiple_select'),
                   [(4, 49, 49), (4, 49, 49), (8, 49, 49)], None),  # its image pool: 49x49
    'LightHamHead': (dict(in_channels=[4, 4, 8], in_index=[0, 1, 2], ham_channels=8,
                          ham_kwargs=dict(MD_R=4)), [(4, 6, 7), (4, 6, 7), (8, 6, 7)], None),
    'NLHead': (dict(in_channels=8), [(8, 6, 7)], None),
    'OCRHead': (dict(in_channels=8, ocr_channels=4), [(8, 6, 7)], 'ocr'),
    'PIDHead': (dict(in_channels=8), [(4, 6, 7), (8, 6, 7), (4, 6, 7)], 'pid'),
    'PSAHead': (dict(in_channels=8, mask_size=(7, 7)), [(8, 7, 7)], None),
    'PSPHead': (dict(in_channels=8, pool_scales=(1, 2)), [(8, 6, 7)], None),
    'SETRMLAHead': (dict(in_channels=(4, ) * 4, mla_channels=2, **ML), [(4, 4, 4)] * 4, None),
    'SETRUPHead': (dict(in_channels=8, num_convs=2), [(8, 4, 4)], None),
    'SegformerHead': (dict(in_channels=[4, 4, 4, 8], **ML),
                      [(4, 16, 16), (4, 8, 8), (4, 4, 4), (8, 2, 2)], None),
    'UPerHead': (dict(in_channels=[4, 4, 4, 8], pool_scales=(1, 2), **ML),
                 [(4, 16, 16), (4, 8, 8), (4, 4, 4), (8, 2, 2)], None),
}
RGA_CFG = dict(pooled_size=(4, 4), ratio_channel=2, ratio_spatial=2, ratio_logit=2)


pytestmark = pytest.mark.usefixtures('one_thread')


def _build(name, rga):
    init_default_scope('mmseg')
    torch.manual_seed(0)
    cfg = dict(type=('RGA' if rga else '') + name, channels=C, num_classes=K,
               **copy.deepcopy(SPECS[name][0]))
    if rga:
        cfg['rga_cfg'] = RGA_CFG
    return MODELS.build(cfg)


def _forward(head, name):
    """The head's forward on its tiny inputs (train or eval form); a tuple of tensors."""
    torch.manual_seed(0)
    levels = [torch.randn(B, *shape) for shape in SPECS[name][1]]
    kind = SPECS[name][2]
    if kind == 'dpt':  # ViT levels: (feature map, class token)
        levels = [[x, x.mean((2, 3))] for x in levels]
    if kind in ('ddr', 'pid') and not head.training:
        levels = levels[1]  # inference runs the main (integral / context) branch only
    args = (levels, torch.randn(B, K, *SPECS[name][1][0][1:])) if kind == 'ocr' else (levels, )
    torch.manual_seed(1)  # heads that draw random bases (LightHam) draw the same ones
    out = head(*args)
    return out if isinstance(out, (tuple, list)) else (out, )


def test_registered_list():
    expected = sorted(f'RGA{n}' for n in ACCEPTED if n not in LEFT_OUT)
    assert registered_rga_heads() == expected
    assert set(SPECS) == {n[3:] for n in expected}
    assert set(LEFT_OUT) < set(ACCEPTED)
    for name in ('PSP', 'ASPP', 'FCN', 'DepthwiseSeparableASPP'):  # the hand-written four
        cls = getattr(rga_heads, f'RGA{name}Head')
        assert MODELS.get(f'RGA{name}Head') is cls
        assert 'RGAHeadMixin' not in cls.__doc__.splitlines()[0]  # their own docstring
    assert 'UPerHead with RGA on its classifier input' in MODELS.get('RGAUPerHead').__doc__


def test_usage_lists_the_registered_and_the_left_out_heads():
    from readme_tables import USAGE
    section = USAGE.read_text().split('## Decode heads: `RGA<Name>`', 1)[1].split('\n## ', 1)[0]
    assert left_out_table() in section
    listed = section.split('27 heads:', 1)[1].split('.\n', 1)[0]
    assert re.findall(r'`(RGA\w+)`', listed) == registered_rga_heads()


@pytest.mark.parametrize('missing, why', [
    ('RGADAHead', 'DAHead is left out on purpose: three classifiers'),
    ('RGAPointHead', 'PointHead is left out on purpose: its cls_seg is a Conv1d'),
    ('RGASegmenterMaskTransformerHead', 'forward never reaches cls_seg'),
    ('RGAUperHead', "no decode head named 'UperHead' \\(did you mean 'RGAUPerHead'\\?\\)"),
])
def test_missing_rga_type_is_explained_in_one_line(missing, why):
    init_default_scope('mmseg')
    with pytest.raises(KeyError) as err:
        MODELS.build(dict(type=missing))
    line = explain_missing_rga_type(str(err.value.args[0]))
    assert '\n' not in line and line.startswith(f'{missing} is not in the mmseg::model registry. ')
    assert 'registered RGA decode heads: RGAANNHead, RGAAPCHead' in line
    assert re.search(why, line), line
    assert ('did you mean' in line) == (missing == 'RGAUperHead')
    other = 'FooHead is not in the mmseg::model registry. Please check'
    assert explain_missing_rga_type(other) == other


@pytest.mark.parametrize('name', REFUSED)
def test_heads_that_never_reach_cls_seg_are_not_registered(name):
    assert f'RGA{name}' not in MODELS.module_dict


@pytest.mark.parametrize('name', sorted(SPECS))
def test_parameters_are_the_base_heads_plus_rga_and_a_wider_classifier(name):
    head, base = _build(name, rga=True), _build(name, rga=False)
    assert isinstance(head, RGAHeadMixin) and isinstance(head, type(base))
    assert isinstance(head.rga, RGABlock) and head.rga.in_channels == C
    assert head.conv_seg.in_channels == 2 * C and base.conv_seg.in_channels == C

    def count(module):
        return sum(p.numel() for p in module.parameters())

    assert count(head) == count(base) + count(head.rga) + C * head.out_channels


def _backward(head, name):
    sum(o.float().pow(2).mean() for o in _forward(head, name)).backward()


@pytest.mark.parametrize('name', sorted(SPECS))
def test_forward_backward_and_the_output_depends_on_the_gates(name):
    head = _build(name, rga=True).train()
    try:
        _backward(head, name)
    except RuntimeError as err:  # unless mmseg's own head cannot backward on this torch
        try:
            _backward(_build(name, rga=False).train(), name)
        except RuntimeError as base_err:
            pytest.skip(f"mmseg's {name} itself fails backward on torch {torch.__version__}: "
                        f'{str(base_err).splitlines()[0][:120]}')
        raise err
    for pname, param in head.rga.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname
    head.eval()

    def with_gates(spatial, channel):  # every gate of a branch replaced by one value
        hooks = [branch.register_forward_hook(lambda m, i, o, v=v: torch.full_like(o, v))
                 for branch, v in ((head.rga.spatial, spatial), (head.rga.channel, channel))]
        with torch.no_grad():
            out = _forward(head, name)[0]
        for hook in hooks:
            hook.remove()
        return out

    assert not torch.allclose(with_gates(0.25, 0.5), with_gates(0.75, 0.5))  # spatial
    assert not torch.allclose(with_gates(0.5, 0.25), with_gates(0.5, 0.75))  # channel


def test_tools_print_the_explanation_in_one_line():
    """What a user of tools/train.py or tools/test.py reads for a left-out head (run_main)."""
    from mmseg_rga.tooling.errors import run_main

    def main(argv):
        init_default_scope('mmseg')
        MODELS.build(dict(type='RGADAHead'))

    with pytest.raises(SystemExit) as exit_:
        run_main(main, argv=[])
    err = exit_.value.code  # sys.exit(str): Python prints it on stderr, exit status 1
    assert isinstance(err, str) and len(err.splitlines()) == 1, err
    assert err.startswith('error: RGADAHead is not in the mmseg::model registry. DAHead is left '
                          'out on purpose: three classifiers'), err
    assert 'registered RGA decode heads: RGAANNHead' in err and 'RGAUPerHead' in err
