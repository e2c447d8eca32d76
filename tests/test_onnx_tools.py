"""The tools around an exported file, on generated images and a tiny RGA-FCN with random weights:
onnx_inference.py (image -> the config's resize and normalization -> onnxruntime -> label map
PNG and overlay) gives PyTorch's label map; compare_onnx.py prints both mIoUs on a generated
test set; benchmark_onnx.py times a static and a dynamic file."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from onnx_models import write_tiny_model
from tool_runner import run_python

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / 'tools' / 'deployment'
IMAGE_SIZE = (64, 128)  # generated images (h, w)
#: the test pipeline resizes 64x128 images to 48x96: the label map must come back to 64x128
PIPELINE = """
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 48), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                       dataset=dict(pipeline=test_pipeline))
"""

pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')


def _run(tool, *args):
    return run_python([tool, *args], cwd=REPO)


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Config, checkpoint, model, a --dynamic ONNX file of it, and two generated images."""
    from mmseg_rga.datasets.synthetic import generate_synthetic_cityscapes
    root = tmp_path_factory.mktemp('onnx_tools')
    config, checkpoint, model = write_tiny_model(root)
    config.write_text(config.read_text() + PIPELINE)
    data = root / 'data'
    generate_synthetic_cityscapes(str(data), num_train=1, num_val=2, image_size=IMAGE_SIZE,
                                  seed=0)
    images = sorted((data / 'leftImg8bit' / 'val').rglob('*.png'))
    out = root / 'tiny.onnx'
    run = _run(DEPLOY / 'pytorch2onnx.py', config, checkpoint, '--shape', 48, 96, '--dynamic',
               '--out', out)
    assert run.returncode == 0, run.stderr[-3000:]
    return dict(config=config, checkpoint=checkpoint, onnx=out, images=images, data=data,
                root=root)


def _pytorch_logits(files, image):
    """PyTorch's seg_logits of one image at its original size (mmseg's inference_model)."""
    from mmseg.apis import inference_model

    from mmseg_rga.tooling.inference import load_model
    model = load_model(str(files['config']), str(files['checkpoint']))
    with torch.no_grad():
        return inference_model(model, str(image)).seg_logits.data


def test_onnx_inference_writes_pytorchs_label_map_and_an_overlay(exported, tmp_path):
    from PIL import Image
    run = _run(DEPLOY / 'onnx_inference.py', exported['config'], exported['onnx'],
               *exported['images'], '--out-dir', tmp_path, '--overlay')
    assert run.returncode == 0, run.stderr[-3000:]
    for image in exported['images']:
        labels = np.array(Image.open(tmp_path / f'{image.stem}.png'))
        assert labels.shape == IMAGE_SIZE  # resized back from the 48x96 network input
        logits = _pytorch_logits(exported, image)
        top2 = logits.topk(2, dim=0).values
        decided = (top2[0] - top2[1] > 1e-3).numpy()  # ties may go either way
        assert decided.mean() > 0.9
        assert np.array_equal(labels[decided], logits.argmax(0).numpy()[decided])
        overlay = np.array(Image.open(tmp_path / f'{image.stem}_overlay.png'))
        assert overlay.shape == (*IMAGE_SIZE, 3)


def test_onnx_inference_refuses_a_static_file_of_another_size(exported, tmp_path):
    static = tmp_path / 'static.onnx'
    run = _run(DEPLOY / 'pytorch2onnx.py', exported['config'], exported['checkpoint'],
               '--shape', 40, 40, '--exporter', 'torchscript', '--out', static)
    assert run.returncode == 0, run.stderr[-3000:]
    run = _run(DEPLOY / 'onnx_inference.py', exported['config'], static, exported['images'][0],
               '--out-dir', tmp_path)
    assert run.returncode == 1 and 'Traceback' not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        f'error: {exported["images"][0].name} preprocesses to 48x96 but the ONNX file takes '
        'only 40x40: export it with --dynamic, or resize the images to that size')


@pytest.mark.parametrize('args,match', [
    (('{onnx}', 'missing.png'), "image not found: 'missing.png'"),
    (('missing.onnx', '{image}'), "ONNX file not found: 'missing.onnx'"),
    (('{onnx}', '{image}', '--opacity', 2), '--opacity must be in [0, 1]'),
])
def test_onnx_inference_bad_inputs_one_line(exported, tmp_path, args, match):
    args = [str(a).format(onnx=exported['onnx'], image=exported['images'][0]) for a in args]
    run = _run(DEPLOY / 'onnx_inference.py', exported['config'], *args, '--out-dir', tmp_path)
    assert run.returncode == 1 and 'Traceback' not in run.stderr
    assert match in run.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_compare_onnx_prints_both_mious_on_generated_data(exported):
    run = _run(DEPLOY / 'compare_onnx.py', exported['config'], exported['checkpoint'],
               exported['onnx'], '--synthetic-data', exported['root'] / 'generated',
               '--synthetic-size', *IMAGE_SIZE)
    assert run.returncode == 0, run.stderr[-3000:]
    line = run.stdout.strip().splitlines()[-1]
    found = re.fullmatch(r'10 images: mIoU PyTorch \(whole image\) ([0-9.]+), onnxruntime '
                         r'([0-9.]+); (\d+) of (\d+) pixels labelled differently', line)
    assert found, line
    ours, theirs, differ, total = map(float, found.groups())
    assert abs(ours - theirs) < 0.5 and differ < 0.01 * total, line


def test_benchmark_onnx_times_both_files(exported):
    run = _run(REPO / 'tools' / 'analysis_tools' / 'benchmark_onnx.py', exported['config'],
               '--shape', 48, 96, '--check-shape', 40, 72, '--repeats', 1, '--threads', 1)
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'dynamic / static: ' in run.stdout
    assert 'dynamic file vs PyTorch at 40x72: max abs diff' in run.stdout
