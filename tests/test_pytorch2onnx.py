"""tools/deployment/pytorch2onnx.py on a tiny RGA-FCN, checked with onnxruntime on every stack:
one file exported with --dynamic matches PyTorch at sizes of other aspect ratios (the RGA pooling
matrices computed in the graph), a static file takes its one size, the dynamo exporter (torch >=
2.5) writes fixed-size files, and bad inputs end in one line."""
from pathlib import Path

import pytest
import torch
from onnx_models import TINY_PSP_CONFIG, whole_logits, write_tiny_model
from tool_runner import run_python

from mmseg_rga.compat import onnx_dynamo_export

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / 'tools' / 'deployment' / 'pytorch2onnx.py'


def _tool(*args):
    return run_python([TOOL, *args], cwd=REPO)


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    """A tiny RGA-FCN (ResNetV1c-18 at 4 base channels) with random weights, as files."""
    return write_tiny_model(tmp_path_factory.mktemp('tiny_onnx'))


@pytest.fixture(scope='module')
def tiny_psp(tiny_model):
    """The same backbone under an RGA-PSP head (adaptive pooling to 2, 3 and 6 bins), as files."""
    return write_tiny_model(tiny_model[0].parent, 'tiny_psp', TINY_PSP_CONFIG)


NEEDS_DYNAMO_EXPORT = pytest.mark.skipif(
    not onnx_dynamo_export(), reason=f'torch.onnx.export(dynamo=True) needs torch >= 2.5; this '
    f'is torch {torch.__version__} (test_dynamo_exporter_names_the_torch_it_needs runs instead)')
#: sizes of other aspect ratios than the traced 64x96, feature maps (stride 8) that the 5x5 node
#: grid divides (40x40 -> 5x5) and that it does not
OTHER_SIZES = [(40, 40), (72, 56), (33, 130)]


def _session(path):
    onnxruntime = pytest.importorskip('onnxruntime')
    return onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])


@pytest.fixture(scope='module')
def dynamic_file(tiny_model, tmp_path_factory):
    """The tiny model exported once with --dynamic, checked by the tool at two more sizes."""
    pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    config, checkpoint, _ = tiny_model
    out = tmp_path_factory.mktemp('dynamic') / 'tiny.onnx'
    run = _tool(config, checkpoint, '--shape', 64, 96, '--dynamic', '--check-shape', 65, 97,
                '--check-shape', 17, 150, '--out', out)
    assert run.returncode == 0, run.stderr[-3000:]
    return out, run.stdout


def test_dynamic_export_checks_each_size_with_onnxruntime(dynamic_file):
    out, stdout = dynamic_file
    for size in ('64x96', '65x97', '17x150'):
        assert f'onnxruntime vs PyTorch at {size}: max abs diff' in stdout
    assert 'torchscript exporter, batch, height and width dynamic' in stdout


def test_one_dynamic_file_matches_pytorch_at_every_size(dynamic_file, tiny_model):
    import onnx
    out, _ = dynamic_file
    graph = onnx.load(str(out)).graph
    assert {node.domain for node in graph.node} <= {'', 'ai.onnx'}  # standard ops only
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 'height', 'width']
    session = _session(out)
    torch.manual_seed(2)
    for height, width in OTHER_SIZES:
        images = torch.randn(3, 3, height, width)  # batch 3: traced with 2
        (got,) = session.run(None, {'input': images.numpy()})
        expected = whole_logits(tiny_model[2], images)
        assert got.shape == expected.shape == (3, 19, height, width)
        assert float(abs(got - expected).max()) < 1e-4, (height, width)


def test_static_export_takes_its_one_size(tiny_model, tmp_path):
    pytest.importorskip('onnx')
    config, checkpoint, model = tiny_model
    out = tmp_path / 'static.onnx'
    run = _tool(config, checkpoint, '--shape', 64, 96, '--exporter', 'torchscript', '--out', out)
    assert run.returncode == 0, run.stderr[-3000:]
    session = _session(out)
    assert session.get_inputs()[0].shape == [1, 3, 64, 96]
    image = torch.randn(1, 3, 64, 96)
    (got,) = session.run(None, {'input': image.numpy()})
    assert float(abs(got - whole_logits(model, image)).max()) < 1e-4


@NEEDS_DYNAMO_EXPORT
def test_dynamo_exporter_writes_a_fixed_size_file(tiny_model, tmp_path):
    pytest.importorskip('onnxscript')
    config, checkpoint, model = tiny_model
    out = tmp_path / 'dynamo.onnx'
    run = _tool(config, checkpoint, '--shape', 64, 96, '--out', out)  # the default here
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'dynamo exporter, no dynamic axes' in run.stdout
    image = torch.randn(1, 3, 64, 96)
    (got,) = _session(out).run(None, {'input': image.numpy()})
    assert float(abs(got - whole_logits(model, image)).max()) < 1e-4


@pytest.mark.skipif(onnx_dynamo_export(), reason='this torch has the dynamo ONNX exporter')
def test_dynamo_exporter_names_the_torch_it_needs(tiny_model, tmp_path):
    config, checkpoint, _ = tiny_model
    run = _tool(config, checkpoint, '--shape', 64, 96, '--exporter', 'dynamo', '--out',
                tmp_path / 'tiny.onnx')
    assert run.returncode == 1 and 'Traceback' not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        'error: --exporter dynamo (torch.onnx.export(..., dynamo=True)) needs torch >= 2.5; '
        f'this is torch {torch.__version__}')
    assert not (tmp_path / 'tiny.onnx').exists()


@pytest.mark.parametrize('args,match', [
    (('{missing}', '--shape', 64, 64), 'checkpoint not found'),
    (('{ckpt}', '--shape', 0, 64), '--shape needs two positive ints'),
    (('{ckpt}', '--shape', 'a', 64), "invalid int value: 'a'"),
    (('{ckpt}', '--shape', 64, 64, '--check-shape', 32, 32), '--check-shape needs --dynamic'),
    (('{ckpt}', '--shape', 64, 64, '--dynamic', '--check-shape', 32, 0),
     '--check-shape needs two positive ints'),
    (('{ckpt}', '--shape', 64, 64, '--opset', 11), '--opset must be >= 13'),
    (('{ckpt}', '--shape', 64, 64, '--dynamic', '--opset', 99),
     'error: the torchscript exporter failed at opset 99: '),
    (('{ckpt}', '--shape', 64, 64, '--dynamic', '--exporter', 'dynamo'),
     '--dynamic needs --exporter torchscript'),
    (('{ckpt}', '--shape', 64, 64, '--cfg-options',
      'model.decode_head.rga_cfg.pooled_size=(4,4)'),
     'decode_head.rga was trained with 5×5 nodes; this config builds 4×4: set '
     'rga_cfg.pooled_size=(5, 5), or retrain'),
])
def test_pytorch2onnx_bad_inputs_one_line_error(tiny_model, tmp_path, args, match):
    config, checkpoint, _ = tiny_model
    args = [str(a).format(missing=tmp_path / 'none.pth', ckpt=checkpoint) for a in args]
    run = _tool(config, *args)
    assert run.returncode != 0
    assert 'Traceback' not in run.stderr
    assert match in run.stderr.strip().splitlines()[-1]


def test_one_dynamic_psp_file_matches_pytorch_at_every_size(tiny_psp, tmp_path):
    """PSP's adaptive pooling (1, 2, 3, 6 bins) in one dynamic file: at 64x96 (an 8x12 map
    that 3 and 6 bins do not divide) and at other sizes."""
    config, checkpoint, model = tiny_psp
    out = tmp_path / 'psp.onnx'
    run = _tool(config, checkpoint, '--shape', 64, 96, '--dynamic', '--out', out)
    assert run.returncode == 0, run.stderr[-3000:]
    session = _session(out)
    for height, width in [(64, 96)] + OTHER_SIZES:
        images = torch.randn(2, 3, height, width)
        (got,) = session.run(None, {'input': images.numpy()})
        assert float(abs(got - whole_logits(model, images)).max()) < 1e-4, (height, width)


@NEEDS_DYNAMO_EXPORT
def test_dynamo_exporter_exports_adaptive_pooling_at_a_fixed_size(tiny_psp, tmp_path):
    pytest.importorskip('onnxscript')
    config, checkpoint, model = tiny_psp
    out = tmp_path / 'psp.onnx'
    run = _tool(config, checkpoint, '--shape', 64, 96, '--out', out)
    assert run.returncode == 0, run.stderr[-3000:]
    image = torch.randn(1, 3, 64, 96)
    (got,) = _session(out).run(None, {'input': image.numpy()})
    assert float(abs(got - whole_logits(model, image)).max()) < 1e-4
