"""Export paths: the relation's plain expression, torch.export / torch.compile on RGABlock
(forward and backward). ONNX export of a whole segmentor: test_pytorch2onnx.py."""
import pytest
import torch

import mmseg_rga.models.relation as relation
from mmseg_rga.models import RGABlock


def _block(order='SC'):
    torch.manual_seed(0)
    block = RGABlock(8, (5, 5), order=order, ratio_channel=2, ratio_spatial=5, ratio_logit=2,
                     align_corners=True)
    for module in block.modules():  # non-trivial eval-mode norms
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return block.eval()


def _input():
    torch.manual_seed(1)
    return torch.relu(torch.randn(2, 8, 13, 11))  # pooled 13x11 -> 5x5: the matrices run


def _grads(fn, block, x):
    x = x.clone().requires_grad_()
    out = fn(x)
    grads = torch.autograd.grad((out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(),
                                [x, *block.parameters()])
    return out.detach(), grads


def test_relation_without_grad_is_plain_ops_and_identical(monkeypatch):
    torch.manual_seed(0)
    theta, phi = torch.randn(2, 6, 30), torch.randn(2, 6, 30)
    weight = torch.randn(4, 60, requires_grad=True)
    with_function = relation.relation_embedding(theta, phi, weight)
    assert with_function.grad_fn is not None and 'Backward' in type(with_function.grad_fn).__name__

    def refuse(*args):
        raise AssertionError('the autograd.Function ran without a gradient')

    monkeypatch.setattr(relation._FactoredRelation, 'apply', refuse)
    with torch.no_grad():
        plain = relation.relation_embedding(theta, phi, weight)
    assert torch.equal(plain, with_function.detach())
    plain = relation.relation_embedding(theta, phi, weight.detach())  # nothing requires grad
    assert torch.equal(plain, with_function.detach())


@pytest.mark.skipif(getattr(getattr(torch, 'export', None), 'Dim', None) is None,
                    reason=f'torch.export with ExportedProgram.module() needs torch >= 2.2; '
                    f'this is torch {torch.__version__}')
def test_torch_export_forward_and_backward_match_eager():
    block, x = _block(), _input()
    program = torch.export.export(block, (x,))
    targets = {str(node.target) for node in program.graph.nodes if node.op == 'call_function'}
    # aten ops, getitem and autocast regions only: no mmcv kernel, no autograd.Function
    assert targets and all(t.startswith(('aten.', '<built-in')) or t == 'wrap_with_autocast'
                           for t in targets), targets
    exported = program.module()
    out, grads = _grads(exported, exported, x)
    ref_out, ref_grads = _grads(block, block, x)  # eager: the custom backward of the relation
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    for grad, ref in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('order', ['SC', 'CS'])
def test_torch_compile_fullgraph_forward_and_backward_match_eager(order):
    block, x = _block(order), _input()
    ref_out, ref_grads = _grads(block, block, x)
    torch._dynamo.reset()
    compiled = torch.compile(block, fullgraph=True, backend='aot_eager')
    out, grads = _grads(compiled, block, x)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    for grad, ref in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_torch_compile_inductor_inference_matches_eager():
    """Inductor's generated kernels on the block's forward (eval mode, no grad). The backward
    graph is the aot_eager test's above: compiling inductor's backward kernels too doubles the
    C++ build of a cold cache for no graph the tests above do not check."""
    block, x = _block(), _input()
    block.eval()
    torch._dynamo.reset()
    with torch.no_grad():
        ref = block(x)
        out = torch.compile(block, fullgraph=True)(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
