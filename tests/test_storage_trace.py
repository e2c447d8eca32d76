"""mmseg_rga/analysis/storage_trace.py on data-dependent ops: on fake tensors ``nonzero`` and a
boolean-mask index get their largest result (every element selected), and an op whose size the
trace cannot know makes the estimate fail in one line instead of being wrong."""
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from mmseg_rga.analysis.storage_trace import ALLOC, StorageTrace
from mmseg_rga.checks import InputError
from mmseg_rga.compat import FAKE_TENSOR_NEEDS, FAKE_TENSOR_TRACING

# fake tensors corrupt torch 2.0's and 2.1's interpreter (later imports crash)
pytestmark = pytest.mark.skipif(not FAKE_TENSOR_TRACING,
                                reason='{} needs torch >= {}'.format(*FAKE_TENSOR_NEEDS))


def _allocated(trace):
    return sorted(trace.nbytes[sid] for kind, sid in trace.events if kind == ALLOC)


def test_nonzero_and_boolean_masks_select_every_element_on_fake_tensors():
    with FakeTensorMode():
        x = torch.randn(3, 4)
        labels = torch.zeros(3, 4, dtype=torch.long)
        with StorageTrace() as trace:
            where = torch.nonzero(x > 0)
            picked = x[x > 0]  # mmseg's accuracy: pred[target != ignore_index]
            rows = x[labels[:, 0] == 0]
            tuple_form = torch.nonzero(x, as_tuple=True)
    assert where.shape == (12, 2) and where.dtype == torch.long
    assert picked.shape == (12,) and rows.shape == (3, 4)
    assert [t.shape for t in tuple_form] == [(12,), (12,)]
    sizes = _allocated(trace)
    assert 12 * 2 * 8 in sizes and 12 * 4 in sizes and 3 * 4 * 4 in sizes  # as traced


def test_real_tensors_keep_their_real_data_dependent_sizes():
    x = torch.tensor([[1.0, -1.0], [-2.0, 3.0]])
    with StorageTrace():
        assert torch.nonzero(x > 0).shape == (2, 2)
        assert x[x > 0].shape == (2,)


def test_an_op_the_trace_cannot_size_is_a_one_line_error(monkeypatch):
    from mmseg_rga.analysis import segmentor_memory

    def trace_unique(*args):
        with StorageTrace():
            torch.unique(torch.randn(8))

    monkeypatch.setattr(segmentor_memory, '_trace', trace_unique)
    with pytest.raises(InputError) as err:
        segmentor_memory.estimate_config(None)
    message = str(err.value)
    assert '\n' not in message
    assert message.startswith('this model runs aten._unique2.default (')
    assert 'test_storage_trace.py:' in message  # the caller, not the tracing machinery
    assert message.endswith('which fake tensors cannot size (only nonzero and boolean-mask '
                            'indexing are given their largest result): no estimate for it')
