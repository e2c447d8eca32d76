"""tools/visualize_attention.py on tiny neck- and head-form RGA models with saved checkpoints."""
import importlib.util
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch

from mmseg_rga.visualization import (
    CHART_SIZE,
    capture_gates,
    channel_gate_chart,
    draw_heatmap,
    draw_segmentation,
)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO, 'tools', 'visualize_attention.py')

CONFIG = """
custom_imports = dict(imports=['mmseg_rga'], allow_failed_imports=False)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255),
    backbone=dict(type='ResNetV1c', depth=18, stem_channels=16, base_channels=8,
                  out_indices=(0, 1, 2, 3), dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
                  norm_cfg=norm_cfg, contract_dilation=True),
    {neck}
    decode_head={head},
    test_cfg=dict(mode='slide', crop_size=(64, 64), stride=(48, 48)))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='PackSegInputs')
]
"""
FORMS = {
    'head': dict(neck='', block='decode_head.rga',
                 head="dict(type='RGAFCNHead', in_channels=64, in_index=3, channels=16, "
                      "num_convs=1, concat_input=False, num_classes=19, norm_cfg=norm_cfg, "
                      "rga_cfg=dict(pooled_size=(8, 8)))"),
    'neck': dict(neck="neck=dict(type='RGANeck', in_channels=[8, 16, 32, 64], in_index=3, "
                      "rga_cfg=dict(pooled_size=(8, 8))),",
                 block='neck.rga_blocks.0',
                 head="dict(type='FCNHead', in_channels=128, in_index=3, channels=16, "
                      "num_convs=1, concat_input=False, num_classes=19, norm_cfg=norm_cfg)"),
}


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('visualize_attention', TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules['visualize_attention'] = module
    spec.loader.exec_module(module)
    return module


def _build(tmp_path, form, neck=None, head=None):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmseg_rga  # noqa: F401
    spec = FORMS.get(form, {})
    cfg_path = tmp_path / f'{form}.py'
    cfg_path.write_text(CONFIG.format(neck=spec.get('neck', neck), head=spec.get('head', head)))
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg_path)).model)
    model.init_weights()
    ckpt = tmp_path / f'{form}.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': [f'c{i}' for i in range(19)],
                                          'palette': [[i * 13, 255 - i * 13, i * 7]
                                                      for i in range(19)]}}}, str(ckpt))
    return str(cfg_path), str(ckpt), spec.get('block', '').replace('.', '-')


@pytest.mark.parametrize('form', ['head', 'neck'])
def test_writes_pngs_of_the_image_size(tmp_path, tool, form):
    config, ckpt, tag = _build(tmp_path, form)
    rng = np.random.default_rng(0)
    images = []
    for name, (h, w) in (('a', (60, 100)), ('b', (64, 128))):
        path = tmp_path / f'{name}.png'
        cv2.imwrite(str(path), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        images.append((str(path), (h, w)))
    out = tmp_path / 'out'
    tool.main([config, ckpt, *[p for p, _ in images], '--out', str(out), '--top-k', '3'])
    for path, (h, w) in images:
        stem = osp.splitext(osp.basename(path))[0]
        expected = [f'{stem}_pred.png', f'{stem}_{tag}_spatial.png',
                    f'{stem}_{tag}_channel-gates.png'] + [
                        f'{stem}_{tag}_channel-{r}-c' for r in range(3)]
        written = sorted(p.name for p in out.glob(f'{stem}_*.png'))
        for name in expected:
            matches = [p for p in written if p.startswith(name)]
            assert matches, (name, written)
        assert len(written) == 6, written
        for name in written:
            img = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
            # maps have the image's size; the chart a readable size of its own
            size = CHART_SIZE if name.endswith('channel-gates.png') else (h, w)
            assert img.shape == (*size, 3), (name, img.shape)
        gates = np.load(out / f'{stem}_gates.npz')
        block = FORMS[form]['block']
        assert gates[f'{block}/spatial'].ndim == 2
        assert gates[f'{block}/channel'].shape == (16 if form == 'head' else 64,)
        assert ((gates[f'{block}/channel'] > 0) & (gates[f'{block}/channel'] < 1)).all()


def test_finds_every_block_and_rejects_models_without_one(tmp_path, tool):
    config, ckpt, _ = _build(tmp_path, 'neck')
    model = tool.load_model(config, ckpt)
    assert list(tool.find_rga_blocks(model)) == ['neck.rga_blocks.0']
    assert model.test_cfg.mode == 'whole'  # the default: one pass over the whole image
    assert tool.load_model(config, ckpt, slide=True).test_cfg.mode == 'slide'
    plain, plain_ckpt, _ = _build(tmp_path, 'plain', neck='', head=FORMS['neck']['head'].replace(
        'in_channels=128', 'in_channels=64'))
    img = tmp_path / 'x.png'
    cv2.imwrite(str(img), np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(tool.ToolError, match='no RGABlock'):
        tool.main([plain, plain_ckpt, str(img), '--out', str(tmp_path / 'o')])


def test_a_checkpoint_at_another_node_grid_is_refused_in_one_line(tmp_path, tool):
    from mmseg_rga.tooling.errors import run_main
    config, ckpt, _ = _build(tmp_path, 'head')  # 8x8 nodes
    img = tmp_path / 'x.png'
    cv2.imwrite(str(img), np.zeros((32, 32, 3), np.uint8))
    for unsafe in ([], ['--unsafe-load']):  # how the file is read changes nothing here
        with pytest.raises(SystemExit) as exit_:
            run_main(tool.main, [config, ckpt, str(img), '--out', str(tmp_path / 'o'), *unsafe,
                                 '--cfg-options', 'model.decode_head.rga_cfg.pooled_size=(4,4)'])
        err = exit_.value.code
        assert isinstance(err, str) and len(err.splitlines()) == 1, err
        assert err.startswith(f'error: checkpoint {ckpt} does not fit the model of this config: ')
        assert err.endswith('decode_head.rga was trained with 8×8 nodes; this config builds 4×4: '
                            'set rga_cfg.pooled_size=(8, 8), or retrain'), err
        assert not (tmp_path / 'o').exists()


def test_drawing_helpers():
    img = np.full((10, 20, 3), 100, np.uint8)
    out = draw_heatmap(img, np.arange(6, dtype=np.float32).reshape(2, 3), 0.5)
    assert out.shape == (10, 20, 3) and out.dtype == np.uint8 and out.std() > 0
    seg = np.zeros((10, 20), np.int64)
    seg[:, 10:] = 1
    meta = dict(classes=('a', 'b'), palette=[[255, 0, 0], [0, 0, 255]])
    colored = draw_segmentation(img, seg, meta, opacity=1.0)
    assert colored[0, 0].tolist() == [255, 0, 0] and colored[0, 19].tolist() == [0, 0, 255]
    chart = channel_gate_chart(np.linspace(0, 1, 16), [15, 14])
    assert chart.shape == (*CHART_SIZE, 3)


def test_capture_gates_leaves_no_hooks():
    from mmseg_rga.models import RGABlock
    block = RGABlock(8, 4, ratio_channel=2, ratio_spatial=2).eval()
    with capture_gates(block) as gates:
        out = block(torch.rand(1, 8, 6, 10))
    record = gates['']
    spatial = block.pool.unpool(block.spatial(block.pool.pool(torch.rand(1, 8, 6, 10))), (6, 10))
    assert record['spatial'].shape == spatial.shape == (1, 1, 6, 10)
    assert record['channel'].shape == (1, 8) and torch.equal(record['output'], out)
    assert not block._forward_hooks and not block._forward_pre_hooks
    assert not block.spatial._forward_hooks and not block.channel._forward_hooks
