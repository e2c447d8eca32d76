"""End to end: tools/train.py, tools/test.py, --resume, tools/dist_train.sh and the data checks.

Everything runs as the user runs it (subprocesses from outside the repo, no ``pip install``) on
a tiny synthetic Cityscapes-format dataset (64x128 images), with the repo's PSPNet + RGA config
shrunk to a ResNetV1c-18 through ``--cfg-options``. One 4-iteration training run is shared by the
test-mode tests and is the reference of the resume test.
"""
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import mmseg
import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image
from tool_runner import run, tool_env

from mmseg_rga.datasets.synthetic import generate_synthetic_cityscapes
from mmseg_rga.datasets.transforms import CheckSegLabelRange, LabelValueError
from mmseg_rga.engine import load_checkpoint_file
from mmseg_rga.tooling import (
    DatasetNotFoundError,
    check_data,
    revert_sync_bn_in_cfg,
)

REPO = Path(__file__).resolve().parents[1]
MMSEG_TEST = Path(mmseg.__file__).parent / '.mim' / 'tools' / 'test.py'  # mmseg's own script
BASE_CONFIG = REPO / 'configs' / 'rga' / 'pspnet_rga_cityscapes.py'
IMAGE_SIZE = (64, 128)  # (h, w)

# Pipelines and loaders cannot be set through --cfg-options; everything else is shrunk there.
TINY_CONFIG = f"""
_base_ = [{str(BASE_CONFIG)!r}]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),  # no random augmentation: --resume must reproduce the weights
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (1.0, 1.25)],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')], [dict(type='PackSegInputs')]]),
]
_loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline), **_loader)
val_dataloader = dict(dataset=dict(pipeline=test_pipeline), **_loader)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline), **_loader)
randomness = dict(seed=0, deterministic=True)
env_cfg = dict(cudnn_benchmark=False)
"""


def tiny_options(data_root, max_iters=4, val_interval=4):
    """--cfg-options that shrink the R-101 config to a ResNetV1c-18 on 64x128 images."""
    return [
        'model.pretrained=None', 'model.backbone.init_cfg=None', 'model.backbone.depth=18',
        'model.decode_head.in_channels=512', 'model.decode_head.channels=32',
        'model.decode_head.pool_scales=(1,2)', 'model.decode_head.dropout_ratio=0',
        'model.decode_head.rga_cfg.pooled_size=(8,8)',
        'model.auxiliary_head.in_channels=256', 'model.auxiliary_head.channels=16',
        'model.auxiliary_head.dropout_ratio=0',
        'model.data_preprocessor.size=(64,128)',
        'model.test_cfg.crop_size=(64,64)', 'model.test_cfg.stride=(48,48)',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={val_interval}',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
    ]


def run_tool(args, cwd, timeout=300, env=None, check=True):
    """Run a tool as a user would: from ``cwd`` (outside the repo), repo not on PYTHONPATH."""
    full_env = tool_env()
    full_env.update(env or {})
    if str(args[0]).endswith('.py'):
        args = [sys.executable] + args
    start = time.time()
    proc = run(args, cwd, timeout, full_env)  # forked where it can: less the framework's import
    returncode, out = proc.returncode, proc.stdout + proc.stderr
    seconds = time.time() - start
    print(f'$ {" ".join(map(str, args[:3]))} ... ({seconds:.1f}s, rc={returncode})')
    if check and returncode != 0:
        raise AssertionError(f'{args} failed (rc={returncode}):\n{out[-6000:]}')
    return returncode, out


def train_cmd(config, work_dir, data_root, *extra, **opts):
    return [str(REPO / 'tools' / 'train.py'), str(config), '--work-dir', str(work_dir),
            *extra, '--cfg-options', *tiny_options(data_root, **opts)]


def eval_cmd(config, ckpt, work_dir, data_root, *extra):
    return [str(REPO / 'tools' / 'test.py'), str(config), str(ckpt), '--work-dir', str(work_dir),
            *extra, '--cfg-options', *tiny_options(data_root)]


def state_dict(path):
    return load_checkpoint_file(str(path), map_location='cpu')['state_dict']  # weights only


def miou(out):
    found = re.findall(r'mIoU: ([0-9.]+)', out)
    assert found, out[-4000:]
    return float(found[-1])


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp('tools')


@pytest.fixture(scope='module')
def data_root(workspace):
    root = workspace / 'synthetic_cityscapes'
    generate_synthetic_cityscapes(str(root), num_train=4, num_val=2, image_size=IMAGE_SIZE,
                                  seed=0)
    return root


@pytest.fixture(scope='module')
def tiny_config(workspace):
    path = workspace / 'tiny_pspnet_rga.py'
    path.write_text(TINY_CONFIG)
    return path


@pytest.fixture(scope='module')
def trained(workspace, data_root, tiny_config):
    """4 iterations in one go, checkpoints at 2 and 4, sliding-window validation at 4."""
    work_dir = workspace / 'train4'
    start = time.time()
    _, out = run_tool(train_cmd(tiny_config, work_dir, data_root), cwd=workspace)
    return dict(work_dir=work_dir, out=out, seconds=time.time() - start)


# ---------------------------------------------------------------------------- end-to-end tests
@pytest.mark.slow
@pytest.mark.floor  # with test_test_modes[whole]: the floor stack's train -> test round trip
def test_train_validates_with_sliding_window(trained):
    out = trained['out']
    assert 'RGAPSPHead' in out  # the plugin's head was built through the repo config
    assert "mode='slide'" in out or '"mode": "slide"' in out or 'mode=slide' in out.replace("'", '')
    value = miou(out)
    assert 0.0 <= value <= 100.0
    print(f'train 4 iters + slide val: mIoU={value} ({trained["seconds"]:.1f}s)')
    for it in (2, 4):
        assert (trained['work_dir'] / f'iter_{it}.pth').is_file()


def probe_config(workspace, tiny_config, mode):
    """The tiny config plus tests/forward_probe.py's hook, which writes what the tool ran."""
    probe_dir = workspace / 'probe'
    probe_dir.mkdir(exist_ok=True)
    shutil.copy(REPO / 'tests' / 'forward_probe.py', probe_dir)
    record = probe_dir / f'{mode}.json'
    config = probe_dir / f'probe_{mode}.py'
    config.write_text(f"""
_base_ = [{str(tiny_config)!r}]
custom_imports = dict(imports=['mmseg_rga', 'forward_probe'], allow_failed_imports=False)
custom_hooks = [dict(type='RecordTestForwardHook', path={str(record)!r})]
""")
    return config, record, dict(PYTHONPATH=str(probe_dir))


# (segmentor input shapes, backbone input shapes) per validation image of 64x128: slide runs
# 64x64 crops at stride 48 (3 per 64x128 map, 6 per 80x160); whole runs the image itself; TTA
# runs scales 1.0 and 1.25, each plain and flipped, each by sliding window (the model's mode)
EXPECTED_FORWARDS = {
    'slide': ([(1, 3, 64, 128)], [(1, 3, 64, 64)] * 3),
    'whole': ([(1, 3, 64, 128)], [(1, 3, 64, 128)]),
    'tta': ([(1, 3, 64, 128)] * 2 + [(1, 3, 80, 160)] * 2, [(1, 3, 64, 64)] * 18),
}


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['slide', pytest.param('whole', marks=pytest.mark.floor), 'tta'])
def test_test_modes(trained, workspace, data_root, tiny_config, mode):
    """Each mode runs as named (the forward input sizes) with the checkpoint's weights."""
    config, record, env = probe_config(workspace, tiny_config, mode)
    extra = {'slide': [], 'whole': [], 'tta': ['--tta']}[mode]
    checkpoint = trained['work_dir'] / 'iter_4.pth'
    cmd = eval_cmd(config, checkpoint, workspace / f'test_{mode}', data_root, *extra)
    if mode == 'whole':
        cmd.append('model.test_cfg.mode=whole')
    if mode == 'slide':
        cmd[cmd.index('--cfg-options'):cmd.index('--cfg-options')] = [
            '--out', str(workspace / 'preds')]
    _, out = run_tool(cmd, cwd=workspace, env=env)
    assert 0.0 <= miou(out) <= 100.0
    seen = json.loads(record.read_text())
    segmentor, backbone = EXPECTED_FORWARDS[mode]
    num_images = 2
    assert sorted(map(tuple, seen['segmentor'])) == sorted(segmentor * num_images)
    assert sorted(map(tuple, seen['backbone'])) == sorted(backbone * num_images)
    # the tested weights are the checkpoint's (all of them), not those of iteration 2
    for name, ckpt in (('iter_4', state_dict(checkpoint)),
                       ('iter_2', state_dict(trained['work_dir'] / 'iter_2.pth'))):
        sums = {k: [v.double().sum().item(), v.double().abs().sum().item()]
                for k, v in ckpt.items() if v.is_floating_point()}
        assert sums.keys() == seen['weights'].keys()
        same = all(np.allclose(sums[k], seen['weights'][k], rtol=1e-12, atol=0) for k in sums)
        assert same == (name == 'iter_4'), name
    if mode == 'tta':
        assert 'SegTTAModel' in out
    if mode == 'slide':  # --out keeps the predictions as label PNGs
        assert len(list((workspace / 'preds').glob('*.png'))) == 2


@pytest.mark.slow
def test_resume_reproduces_uninterrupted_training(trained, workspace, data_root, tiny_config):
    work_dir = workspace / 'resume'
    run_tool(train_cmd(tiny_config, work_dir, data_root, max_iters=2), cwd=workspace)
    assert (work_dir / 'iter_2.pth').is_file() and not (work_dir / 'iter_4.pth').exists()
    _, out = run_tool(train_cmd(tiny_config, work_dir, data_root, '--resume'), cwd=workspace)
    assert 'resumed epoch: 0, iter: 2' in out, out[-3000:]
    ref, got = state_dict(trained['work_dir'] / 'iter_4.pth'), state_dict(work_dir / 'iter_4.pth')
    assert ref.keys() == got.keys()
    diffs = {k: (ref[k].double() - got[k].double()).abs().max().item() for k in ref
             if ref[k].is_floating_point()}
    worst = max(diffs, key=diffs.get)
    print(f'resume: max |w_4 - w_2+2| = {diffs[worst]:.3g} ({worst})')
    assert diffs[worst] <= 1e-6, (worst, diffs[worst])
    # the first two iterations really moved the weights (otherwise the check above is vacuous)
    two = state_dict(work_dir / 'iter_2.pth')
    assert max((ref[k].double() - two[k].double()).abs().max().item() for k in diffs) > 1e-4


@pytest.mark.slow
def test_dist_train_two_cpu_processes_with_gloo(workspace, data_root, tiny_config):
    if torch.cuda.is_available():
        pytest.skip('checks the CPU (gloo) path')
    work_dir = workspace / 'dist'
    args = train_cmd(tiny_config, work_dir, data_root, max_iters=2, val_interval=2)[1:]
    _, out = run_tool(['bash', str(REPO / 'tools' / 'dist_train.sh'), args[0], '2', *args[1:]],
                      cwd=workspace, timeout=400,
                      env=dict(PYTHON=sys.executable, PORT=str(29500 + os.getpid() % 1000)))
    assert "dist_cfg=dict(backend='gloo')" in out  # the config dump of the run
    assert 'device_ids=None' in out and 'MMDistributedDataParallel' in out
    assert 'Distributed launcher: pytorch' in out and 'GPU number: 2' in out, out[-3000:]
    assert 'SyncBN cannot run on CPU, converted to BN' in out
    assert (work_dir / 'iter_2.pth').is_file()
    print(f'dist_train.sh 2 procs: mIoU={miou(out)}')


@pytest.mark.slow
def test_missing_dataset_names_layout_and_commands(workspace, tiny_config):
    missing = workspace / 'no_such_dir' / 'cityscapes'
    rc, out = run_tool(train_cmd(tiny_config, workspace / 'missing', missing), cwd=workspace,
                       check=False)
    assert rc == 1
    assert out.rstrip().splitlines()[-1].startswith('error: Dataset not found for ')
    assert str(missing) in out
    for text in ('leftImg8bit/{train,val}/<city>/*_leftImg8bit.png',
                 'gtFine/{train,val}/<city>/*_gtFine_labelTrainIds.png',
                 'python tools/dataset_converters/prepare_cityscapes.py data/cityscapes',
                 'python tools/dataset_converters/generate_synthetic_cityscapes.py --out '
                 'data/synthetic_cityscapes',
                 'train_dataloader.dataset.data_root=', 'test_dataloader.dataset.data_root='):
        assert text in out, text
    assert 'Traceback' not in out and 'Config:' not in out  # a message, before the Runner


# ----------------------------------------------------------------------------- fast unit tests
def _cityscapes_cfg(root):
    cfg = Config.fromfile(str(BASE_CONFIG))
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[name].dataset.data_root = str(root)
    return cfg


def test_missing_label_dir_and_labelids_hint(tmp_path):
    root = tmp_path / 'cs'
    img = root / 'leftImg8bit' / 'train' / 'aachen'
    lbl = root / 'gtFine' / 'train' / 'aachen'
    img.mkdir(parents=True)
    lbl.mkdir(parents=True)
    Image.fromarray(np.zeros((4, 8, 3), np.uint8)).save(img / 'a_000000_000000_leftImg8bit.png')
    Image.fromarray(np.zeros((4, 8), np.uint8)).save(lbl / 'a_000000_000000_gtFine_labelIds.png')
    with pytest.raises(DatasetNotFoundError, match='labelIds.png: the 34 raw ids'):
        check_data(_cityscapes_cfg(root), ['train_dataloader'])


def test_bad_label_value_names_the_file(tmp_path, data_root):
    root = tmp_path / 'bad'
    shutil.copytree(data_root, root)
    bad = sorted((root / 'gtFine' / 'val').rglob('*_gtFine_labelTrainIds.png'))[-1]
    label = np.array(Image.open(bad))
    label[:2, :2] = 33  # a raw Cityscapes labelId (licence plate), not a train id
    Image.fromarray(label).save(bad)
    cfg = _cityscapes_cfg(root)
    check_data(cfg, ['train_dataloader'])  # the train split is fine
    with pytest.raises(LabelValueError) as err:
        check_data(cfg, ['train_dataloader', 'val_dataloader'])
    msg = str(err.value)
    assert str(bad) in msg and '[33]' in msg and '[0, 19)' in msg and 'labelTrainIds' in msg


def test_label_check_reads_maps_as_the_pipeline_does(tmp_path):
    """reduce_zero_label (ADE20K): 0 -> 255 (ignored), v -> v - 1, as LoadAnnotations does."""
    for split, name, values in (('training', 'ok', (0, 150)), ('validation', 'bad', (0, 151))):
        for sub, array in (('images', np.zeros((4, 4, 3), np.uint8)),
                           ('annotations', np.array([values * 8], np.uint8).reshape(4, 4))):
            (tmp_path / sub / split).mkdir(parents=True, exist_ok=True)
            suffix = '.jpg' if sub == 'images' else '.png'
            Image.fromarray(array).save(tmp_path / sub / split / f'{name}{suffix}')

    def loader(split):
        return dict(dataset=dict(
            type='ADE20KDataset', data_root=str(tmp_path), pipeline=[],
            data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}')))

    cfg = Config(dict(model=dict(decode_head=dict(num_classes=150)),
                      train_dataloader=loader('training'), val_dataloader=loader('validation')))
    check_data(cfg, ['train_dataloader'])  # 150 is class 149 once the zero label is reduced
    with pytest.raises(LabelValueError, match=r'bad\.png holds values \[150\] outside \[0, 150\)'):
        check_data(cfg, ['val_dataloader'])


@pytest.mark.slow
def test_bad_label_fails_before_training(tmp_path, data_root, tiny_config):
    root = tmp_path / 'bad'
    shutil.copytree(data_root, root)
    bad = sorted((root / 'gtFine' / 'train').rglob('*.png'))[0]
    Image.fromarray(np.full(IMAGE_SIZE, 19, np.uint8)).save(bad)
    rc, out = run_tool(train_cmd(tiny_config, tmp_path / 'wd', root), cwd=tmp_path, check=False)
    last = out.rstrip().splitlines()[-1]
    assert rc == 1 and last.startswith('error: Label map ') and str(bad) in last
    assert 'Traceback' not in out and 'Config:' not in out


def test_check_seg_label_range_transform():
    t = CheckSegLabelRange(num_classes=19)
    ok = dict(gt_seg_map=np.array([[0, 18], [255, 3]], np.uint8), seg_map_path='a.png')
    assert t(ok) is ok
    with pytest.raises(LabelValueError, match=r'b\.png .*\[19, 40\]'):
        t(dict(gt_seg_map=np.array([[19, 40], [255, 3]], np.uint8), seg_map_path='b.png'))
    with pytest.raises(ValueError):
        CheckSegLabelRange(num_classes=0)


def test_revert_sync_bn_in_cfg():
    cfg = dict(backbone=dict(norm_cfg=dict(type='SyncBN', requires_grad=True)),
               decode_head=[dict(norm_cfg=dict(type='SyncBN')), dict(norm_cfg=dict(type='GN'))])
    changed = revert_sync_bn_in_cfg(cfg)
    assert changed == ['model.backbone.norm_cfg', 'model.decode_head[0].norm_cfg']
    assert cfg['backbone']['norm_cfg'] == dict(type='BN', requires_grad=True)
    assert cfg['decode_head'][1]['norm_cfg']['type'] == 'GN'


@pytest.mark.slow
def test_mmengine_checkpoint_loads_weights_only_with_the_allowlist(trained):
    """The torch >= 2.6 problem (torch's own weights-only allowlist refuses a checkpoint our
    training wrote) and the fix: the allowlist ``import mmseg_rga`` registers, no full
    unpickling."""
    from test_checkpoint_safety import torch_default_allowlist
    for ckpt in sorted(trained['work_dir'].glob('*.pth')):
        with torch_default_allowlist():
            with pytest.raises(Exception, match='Weights only load failed'):
                torch.load(ckpt, map_location='cpu', weights_only=True)
        for checkpoint in (torch.load(ckpt, map_location='cpu', weights_only=True),
                           load_checkpoint_file(str(ckpt), map_location='cpu')):
            assert {'meta', 'state_dict', 'message_hub', 'optimizer'} <= set(checkpoint)
        assert torch.serialization.get_unsafe_globals_in_checkpoint(str(ckpt)) == []


@pytest.mark.slow
def test_mmseg_own_test_tool_loads_ours_and_refuses_a_crafted_checkpoint(
        trained, workspace, data_root, tiny_config, monkeypatch):
    """mmseg's own tools/test.py on a config importing the plugin through custom_imports, with
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD unset: the checkpoint our training wrote loads weights-only
    and is tested; a crafted one is refused and its unpickling creates no file."""
    from test_checkpoint_safety import SYSTEM, Evil, mmengine_like_checkpoint
    if not MMSEG_TEST.is_file():
        pytest.skip(f'mmseg is installed without its tools ({MMSEG_TEST})')
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    marker, evil = workspace / 'pwned', workspace / 'evil.pth'
    torch.save(dict(mmengine_like_checkpoint(2), extra=Evil(marker)), evil)
    runs = {}
    for name, ckpt in (('honest', trained['work_dir'] / 'iter_4.pth'), ('crafted', evil)):
        cmd = [str(MMSEG_TEST), str(tiny_config), str(ckpt), '--work-dir',
               str(workspace / f'mmseg_test_{name}'), '--cfg-options', *tiny_options(data_root)]
        # mmseg's script finds the plugin of this checkout (custom_imports) on PYTHONPATH
        runs[name] = run_tool(cmd, cwd=workspace, env=dict(PYTHONPATH=str(REPO)), check=False)
    rc, out = runs['honest']
    assert rc == 0, out[-4000:]
    assert f'Load checkpoint from {trained["work_dir"] / "iter_4.pth"}' in out
    assert 'missing keys' not in out and 0.0 <= miou(out) <= 100.0
    rc, out = runs['crafted']
    assert rc != 0 and not marker.exists()
    assert 'Weights only load failed' in out and f'GLOBAL {SYSTEM} ' in out


def test_setup_cpu_distributed_leaves_gpu_hosts_and_single_process_alone(monkeypatch):
    from mmseg_rga.tooling import setup_cpu_distributed
    cfg = Config(dict(launcher='none', model=dict(norm_cfg=dict(type='SyncBN'))))
    assert not setup_cpu_distributed(cfg)
    cfg.launcher = 'pytorch'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    before = cfg.to_dict()
    assert not setup_cpu_distributed(cfg)
    assert cfg.to_dict() == before  # GPU host: SyncBN, nccl and device_ids untouched


def readme_config() -> str:
    """The complete config of the README's "Using RGA in your own mmseg config" section."""
    text = (REPO / 'README.md').read_text()
    section = text.split('## Using RGA in your own mmseg config', 1)[1]
    return section.split('```python\n', 1)[1].split('```', 1)[0]


@pytest.mark.slow
def test_readme_config_from_scratch_trains_on_synthetic_data(workspace):
    """A user's own config (the README's, not in configs/rga) + --synthetic-data: no Cityscapes."""
    config = workspace / 'my_config.py'
    config.write_text(readme_config())
    assert "custom_imports = dict(imports=['mmseg_rga']" in config.read_text()
    synthetic = workspace / 'generated'
    shrink = ['model.backbone.depth=18', 'model.decode_head.in_channels=512',
              'model.decode_head.channels=32', 'model.decode_head.rga_cfg.pooled_size=(8,8)',
              'model.auxiliary_head.in_channels=256', 'model.auxiliary_head.channels=16',
              'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
              'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
              'val_dataloader.persistent_workers=False', 'train_cfg.max_iters=2',
              'train_cfg.val_interval=2', 'default_hooks.logger.interval=1',
              'model.test_cfg.mode=whole']
    _, out = run_tool([str(REPO / 'tools' / 'train.py'), str(config), '--work-dir',
                       str(workspace / 'readme'), '--synthetic-data', str(synthetic),
                       '--cfg-options', *shrink], cwd=workspace, timeout=400)
    assert (synthetic / 'synthetic_cityscapes.json').is_file()
    assert 'RGAPSPHead' in out and 'num_classes=19' in out
    assert 0.0 <= miou(out) <= 100.0
    assert (workspace / 'readme' / 'iter_2.pth').is_file()
