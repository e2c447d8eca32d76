"""mmseg_rga/tooling/checkpoint_fit.py on tiny in-process models: what is refused, in which
words, what load_from keeps, and what is harmless. tests/test_checkpoint_fit_tools.py runs the
same through tools/test.py, --resume and load_from."""
import copy
import re
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_rga  # noqa: F401  (registers the modules)
from mmseg_rga.tooling.checkpoint_fit import CheckpointFitError, CheckpointFitHook, fit_checkpoint

pytestmark = pytest.mark.usefixtures('one_thread')


class Segmentor(nn.Module):
    """decode_head (RGAFCNHead) and auxiliary_head (FCNHead), as EncoderDecoder names them."""

    def __init__(self, pooled_size=4, num_classes=3, order='SC', aux=True):
        super().__init__()
        init_default_scope('mmseg')
        torch.manual_seed(0)
        self.decode_head = MODELS.build(dict(
            type='RGAFCNHead', in_channels=8, channels=8, num_convs=1, num_classes=num_classes,
            rga_cfg=dict(pooled_size=pooled_size, order=order, ratio_channel=2,
                         ratio_spatial=2, ratio_logit=2)))
        if aux:
            self.auxiliary_head = MODELS.build(dict(type='FCNHead', in_channels=8, channels=4,
                                                    num_convs=1, num_classes=num_classes))


def _checkpoint(model, prefix=''):
    return dict(meta=dict(iter=2), state_dict=OrderedDict(
        (prefix + k, v.clone() + 1) for k, v in model.state_dict().items()))


def _refusal(model, checkpoint, purpose='test'):
    with pytest.raises(CheckpointFitError) as err:
        fit_checkpoint(model, checkpoint, purpose, 'work_dirs/x/iter_2.pth')
    message = str(err.value)
    assert '\n' not in message
    return message


def test_a_checkpoint_that_fits_loads_every_weight():
    model, trained = Segmentor(), Segmentor()
    checkpoint = _checkpoint(trained, prefix='module.')  # DDP's prefix is stripped
    fit = fit_checkpoint(model, checkpoint, 'test')
    assert not (fit.mismatched or fit.missing or fit.unexpected)
    model.load_state_dict(checkpoint['state_dict'])
    for key, value in model.state_dict().items():
        assert torch.equal(value, trained.state_dict()[key] + 1), key


def test_another_node_grid_is_refused_with_both_grids():
    message = _refusal(Segmentor(pooled_size=2), _checkpoint(Segmentor(pooled_size=4)))
    assert message.startswith('checkpoint work_dirs/x/iter_2.pth does not fit the model of this '
                              'config: ')
    assert re.search(r'\d+ weights of another shape \(decode_head\.rga\.spatial\.relation\.'
                     r'weight is \(8, 32, 1, 1\) in the checkpoint, \(2, 8, 1, 1\) in the model, ',
                     message)
    assert message.endswith('decode_head.rga was trained with 4×4 nodes; this config builds 2×2: '
                            'set rga_cfg.pooled_size=(4, 4), or retrain'), message


def test_a_non_square_grid_is_named_by_its_node_count():
    message = _refusal(Segmentor(pooled_size=(3, 3)), _checkpoint(Segmentor(pooled_size=(2, 4))))
    assert ('decode_head.rga was trained with N=8 nodes (an h×w grid with h·w = 8, e.g. 2×4); '
            'this config builds 3×3: set rga_cfg.pooled_size to such an (h, w), e.g. (2, 4), '
            'or retrain') in message
    only_channel = _refusal(Segmentor(2, order='C'), _checkpoint(Segmentor(4, order='C')))
    assert 'trained with 4×4 nodes; this config builds 2×2' in only_channel  # channel.theta: N


def test_resume_is_refused_and_points_to_load_from():
    message = _refusal(Segmentor(pooled_size=2), _checkpoint(Segmentor(pooled_size=4)), 'resume')
    assert message.startswith('cannot resume from work_dirs/x/iter_2.pth: it does not fit the '
                              'model of this config: ')
    assert message.endswith('(load_from fine-tunes from it at the new settings)')


def test_missing_and_unexpected_weights_are_named():
    model = Segmentor()
    checkpoint = _checkpoint(model)
    del checkpoint['state_dict']['decode_head.conv_seg.bias']
    checkpoint['state_dict']['decode_head.extra.weight'] = torch.zeros(2)
    message = _refusal(model, checkpoint)
    assert ('1 model weights missing from it (decode_head.conv_seg.bias); 1 weights the model '
            'does not have (decode_head.extra.weight); use the config it was trained with'
            ) in message


def test_harmless_keys():
    """num_batches_tracked anywhere; the auxiliary head only where nothing trains (test)."""
    model = Segmentor(aux=False)
    checkpoint = _checkpoint(Segmentor())  # has the auxiliary head
    counters = [k for k in checkpoint['state_dict'] if k.endswith('num_batches_tracked')]
    assert counters
    for key in counters[:2]:
        del checkpoint['state_dict'][key]
    fit_checkpoint(model, copy.deepcopy(checkpoint), 'test')
    assert 'auxiliary_head.conv_seg.weight' in _refusal(model, checkpoint, 'resume')
    model = Segmentor()
    del checkpoint['state_dict']['auxiliary_head.conv_seg.weight']
    fit_checkpoint(model, checkpoint, 'test')  # the model's own auxiliary head is kept
    model.load_state_dict(checkpoint['state_dict'])


def test_load_from_keeps_misfit_rga_blocks_whole_and_says_why_in_one_line(capsys):
    model = Segmentor(pooled_size=2, num_classes=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trained = Segmentor(pooled_size=4)
    checkpoint = _checkpoint(trained)
    checkpoint['state_dict']['decode_head.extra.weight'] = torch.zeros(2)
    fit_checkpoint(model, checkpoint, 'load_from', 'ckpt.pth', logger=None)  # prints
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == ('load_from ckpt.pth: decode_head.rga keeps its initialization: it was '
                        'trained with 4×4 nodes; this config builds 2×2')
    assert lines[1].startswith('load_from ckpt.pth: other weights keep their initialization: '
                               '4 weights of another shape (decode_head.conv_seg.weight is '
                               '(3, 16, 1, 1) in the checkpoint, (5, 16, 1, 1) in the model')
    assert lines[2] == ('load_from ckpt.pth: not loaded: 1 weights the model does not have '
                        '(decode_head.extra.weight)')
    assert len(lines) == 3
    state = checkpoint['state_dict']
    assert list(state) == list(before)  # exactly the model's keys: mmengine has nothing to say
    for key, value in state.items():
        fits_and_outside = key in trained.state_dict() and 'rga.' not in key and (
            trained.state_dict()[key].shape == value.shape)
        expected = trained.state_dict()[key] + 1 if fits_and_outside else before[key]
        assert torch.equal(value, expected), key  # every RGA weight keeps its init, even those
        # whose shape does not depend on the grid


def test_load_from_a_checkpoint_without_rga(capsys):
    model = Segmentor()
    checkpoint = _checkpoint(model)
    for key in [k for k in checkpoint['state_dict'] if '.rga.' in k]:
        del checkpoint['state_dict'][key]
    fit_checkpoint(model, checkpoint, 'load_from', 'psp.pth', logger=None)
    assert capsys.readouterr().out.splitlines() == [
        'load_from psp.pth: decode_head.rga keeps its initialization: the checkpoint has no '
        'weights for it (trained without this block)']


def test_the_hook_picks_the_purpose_from_the_runner():
    class Runner:
        def __init__(self, resume):
            self.model, self._resume, self._load_from = Segmentor(2), resume, 'c.pth'
            self.logger = None

    trained = _checkpoint(Segmentor(4))
    with pytest.raises(CheckpointFitError, match='^checkpoint c.pth does not fit'):
        CheckpointFitHook('test').after_load_checkpoint(Runner(False), copy.deepcopy(trained))
    with pytest.raises(CheckpointFitError, match='^cannot resume from c.pth'):
        CheckpointFitHook('train').after_load_checkpoint(Runner(True), copy.deepcopy(trained))
    CheckpointFitHook('train').after_load_checkpoint(Runner(False), trained)  # load_from
