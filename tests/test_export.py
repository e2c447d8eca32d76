"""Export paths: the relation's plain expression, torch.export / torch.compile on RGABlock
(forward and backward), and tools/deployment/pytorch2onnx.py checked with onnxruntime."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mmseg_rga.models.relation as relation
from mmseg_rga.compat import onnx_dynamo_export
from mmseg_rga.models import RGABlock

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / 'tools' / 'deployment' / 'pytorch2onnx.py'
TINY_CONFIG = f"""
_base_ = [{str(REPO / 'configs' / 'rga' / 'fcn_rga_cityscapes.py')!r}]
model = dict(
    pretrained=None,
    backbone=dict(depth=18, stem_channels=8, base_channels=4, init_cfg=None),
    decode_head=dict(in_channels=32, channels=8, num_convs=1,
                     rga_cfg=dict(pooled_size=(5, 5), ratio_channel=2, ratio_spatial=5,
                                  ratio_logit=2)),
    auxiliary_head=None)
"""


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
def test_torch_compile_inductor_forward_and_backward_match_eager():
    block, x = _block(), _input()
    ref_out, ref_grads = _grads(block, block, x)
    torch._dynamo.reset()
    out, grads = _grads(torch.compile(block, fullgraph=True), block, x)
    torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5)
    for grad, ref in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref, rtol=1e-3, atol=1e-5)


def _tool(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO)


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    """A tiny RGA-FCN (ResNetV1c-18 at 4 base channels) with random weights, as files."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    root = tmp_path_factory.mktemp('tiny_onnx')
    config = root / 'tiny.py'
    config.write_text(TINY_CONFIG)
    cfg = Config.fromfile(str(config))
    init_default_scope('mmseg')
    for part in (cfg.model.backbone, cfg.model.decode_head):
        part.norm_cfg = dict(type='BN', requires_grad=True)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    checkpoint = root / 'tiny.pth'
    # like an mmengine checkpoint: a message hub of HistoryBuffers (numpy inside), which only
    # the tools' allowlisted weights-only loading accepts
    from mmengine.logging import HistoryBuffer
    torch.save(dict(state_dict=model.state_dict(), meta=dict(),
                    message_hub=dict(log_scalars=dict(loss=HistoryBuffer([1.0, 0.5], [1, 1])))),
               checkpoint)
    return config, checkpoint, model.eval()


NEEDS_DYNAMO_EXPORT = pytest.mark.skipif(
    not onnx_dynamo_export(), reason=f'torch.onnx.export(dynamo=True) needs torch >= 2.5; this '
    f'is torch {torch.__version__} (test_pytorch2onnx_names_the_torch_it_needs runs instead)')


@NEEDS_DYNAMO_EXPORT
def test_pytorch2onnx_matches_onnxruntime(tiny_model, tmp_path):
    pytest.importorskip('onnxscript')
    onnx = pytest.importorskip('onnx')
    onnxruntime = pytest.importorskip('onnxruntime')
    config, checkpoint, model = tiny_model
    out = tmp_path / 'tiny.onnx'
    run = _tool(config, checkpoint, '--shape', 64, 96, '--dynamic', '--out', out)
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'onnxruntime vs PyTorch: max abs diff' in run.stdout
    graph = onnx.load(str(out)).graph
    assert {node.domain for node in graph.node} <= {'', 'ai.onnx'}  # standard ops only
    session = onnxruntime.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    torch.manual_seed(2)
    image = torch.randn(3, 3, 64, 96)  # batch 3: the exported batch axis is dynamic
    (got,) = session.run(None, {session.get_inputs()[0].name: image.numpy()})
    meta = dict(img_shape=(64, 96), ori_shape=(64, 96), pad_shape=(64, 96))
    model.test_cfg = dict(mode='whole')
    with torch.no_grad():
        expected = model.encode_decode(image, [meta] * 3)
    assert got.shape == (3, 19, 64, 96)
    assert float(abs(got - expected.numpy()).max()) < 1e-4


@pytest.mark.skipif(onnx_dynamo_export(), reason='this torch has the dynamo ONNX exporter')
def test_pytorch2onnx_names_the_torch_it_needs(tiny_model, tmp_path):
    config, checkpoint, _ = tiny_model
    run = _tool(config, checkpoint, '--shape', 64, 96, '--out', tmp_path / 'tiny.onnx')
    assert run.returncode == 1 and 'Traceback' not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        'error: ONNX export (torch.onnx.export(..., dynamo=True) and torch.export.Dim) needs '
        f'torch >= 2.5; this is torch {torch.__version__}')
    assert not (tmp_path / 'tiny.onnx').exists()


@pytest.mark.parametrize('args,match', [
    (('{missing}', '--shape', 64, 64), 'checkpoint not found'),
    (('{ckpt}', '--shape', 0, 64), '--shape needs two positive ints'),
    (('{ckpt}', '--shape', 'a', 64), "invalid int value: 'a'"),
    pytest.param(('{ckpt}', '--shape', 64, 64, '--cfg-options',
                  'model.decode_head.rga_cfg.pooled_size=(4,4)'),
                 'decode_head.rga was trained with 5×5 nodes; this config builds 4×4: set '
                 'rga_cfg.pooled_size=(5, 5), or retrain', marks=NEEDS_DYNAMO_EXPORT),
])
def test_pytorch2onnx_bad_inputs_one_line_error(tiny_model, tmp_path, args, match):
    config, checkpoint, _ = tiny_model
    args = [str(a).format(missing=tmp_path / 'none.pth', ckpt=checkpoint) for a in args]
    run = _tool(config, *args)
    assert run.returncode != 0
    assert 'Traceback' not in run.stderr
    assert match in run.stderr.strip().splitlines()[-1]
