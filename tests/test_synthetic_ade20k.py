"""The synthetic ADE20K layout: files, sizes, labels, what mmseg and the data checks read, and
``--synthetic-data`` picking the layout from the config's dataset type."""
import glob
import hashlib
import os.path as osp
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from mmseg_rga.datasets.synthetic import (
    CLASSES,
    generate_synthetic_ade20k,
    synthetic_ade20k_matches,
    synthetic_scene,
)
from mmseg_rga.datasets.synthetic.ade20k import ADE20K_NAMES, ade20k_label_lut, image_shape
from mmseg_rga.tooling import check_data
from mmseg_rga.tooling.synthetic_data import apply_synthetic_data_option, synthetic_layout

REPO = Path(__file__).resolve().parents[1]
ADE_CONFIG = REPO / 'configs' / 'rga' / 'ade20k' / 'pspnet-rga_r101-d8_4xb4-80k_ade20k-512x512.py'


def _digests(root):
    files = sorted(glob.glob(osp.join(root, '**', '*.*g'), recursive=True))
    return {osp.relpath(f, root): hashlib.sha256(open(f, 'rb').read()).hexdigest() for f in files}


def test_layout_sizes_and_labels(tmp_path):
    info = generate_synthetic_ade20k(str(tmp_path), num_train=6, num_val=2, short_side=48)
    shapes = [(48, 64), (64, 48), (48, 48), (48, 96), (96, 48), (48, 192)]
    assert info['shapes'] == dict(train=shapes, val=shapes[:2])
    lut = ade20k_label_lut()
    for split, folder, n in (('train', 'training', 6), ('val', 'validation', 2)):
        for i in range(n):
            name = f'ADE_{split}_{i + 1:08d}'
            img = cv2.imread(str(tmp_path / 'images' / folder / f'{name}.jpg'))
            ann = cv2.imread(str(tmp_path / 'annotations' / folder / f'{name}.png'),
                             cv2.IMREAD_UNCHANGED)
            assert img.shape == (*shapes[i], 3) and ann.shape == shapes[i]
            _, train_ids = synthetic_scene(0, split, i, shapes[i])  # the Cityscapes painter's
            np.testing.assert_array_equal(ann, lut[train_ids])
            assert ann.max() <= 150
    assert synthetic_ade20k_matches(str(tmp_path), 6, 2, 48)
    assert not synthetic_ade20k_matches(str(tmp_path), 6, 2, 64)


def test_label_map_names_ade20k_classes():
    from mmseg.datasets import ADE20KDataset
    classes = ADE20KDataset.METAINFO['classes']
    lut = ade20k_label_lut()
    assert lut[255] == 0  # ignore -> "other", dropped by reduce_zero_label
    for train_id, name in enumerate(CLASSES):
        assert classes[lut[train_id] - 1] == ADE20K_NAMES[name]
    assert len(set(lut[:19].tolist())) == 18  # rider -> person, the rest distinct


def test_image_shapes_cover_landscape_portrait_square_and_panorama():
    assert [image_shape(i, 512) for i in range(7)] == [
        (512, 683), (683, 512), (512, 512), (512, 1024), (1024, 512), (512, 2048), (512, 683)]


def test_deterministic(tmp_path):
    for sub, seed in (('a', 3), ('b', 3), ('c', 4)):
        generate_synthetic_ade20k(str(tmp_path / sub), 2, 1, short_side=32, seed=seed)
    assert _digests(str(tmp_path / 'a')) == _digests(str(tmp_path / 'b'))
    assert _digests(str(tmp_path / 'a')) != _digests(str(tmp_path / 'c'))


def test_synthetic_data_option_picks_the_layout(tmp_path):
    cfg = apply_synthetic_data_option(Config.fromfile(str(ADE_CONFIG)), str(tmp_path / 'ade'),
                                      num_train=2, num_val=1)
    assert (tmp_path / 'ade' / 'synthetic_ade20k.json').is_file()
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'ADE20KDataset' and ds.data_root == str(tmp_path / 'ade')
    assert dict(ds.data_prefix) == dict(img_path='images/training',
                                        seg_map_path='annotations/training')
    steps = {s['type']: s for s in ds.pipeline}
    assert steps['LoadAnnotations']['reduce_zero_label'] is True
    assert steps['RandomResize']['scale'] == (512, 128)
    assert steps['RandomCrop']['crop_size'] == (128, 128)
    assert cfg.test_dataloader.dataset.data_prefix.img_path == 'images/validation'
    assert cfg.model.decode_head.num_classes == 150 and cfg.model.pretrained is None
    check_data(cfg, ['train_dataloader', 'test_dataloader'], num_label_files=-1)
    city = REPO / 'configs' / 'rga' / 'pspnet_rga_cityscapes.py'
    assert synthetic_layout(Config.fromfile(str(city))) == 'cityscapes'


def test_data_check_rejects_labels_past_150(tmp_path):
    from mmseg_rga.datasets.transforms import LabelValueError
    cfg = apply_synthetic_data_option(Config.fromfile(str(ADE_CONFIG)), str(tmp_path),
                                      num_train=1, num_val=1)
    ann = tmp_path / 'annotations' / 'training' / 'ADE_train_00000001.png'
    cv2.imwrite(str(ann), np.full((128, 171), 152, np.uint8))
    with pytest.raises(LabelValueError, match='ADE_train_00000001.png.*151'):
        check_data(cfg, ['train_dataloader'], num_label_files=-1)


def test_cli(tmp_path):
    tool = REPO / 'tools' / 'dataset_converters' / 'generate_synthetic_cityscapes.py'
    proc = subprocess.run([sys.executable, str(tool), '--layout', 'ade20k', '--out',
                           str(tmp_path / 'ade'), '--num-train', '3', '--num-val', '1',
                           '--short-side', '40'], capture_output=True, text=True,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert 'ade20k layout' in proc.stdout
    assert len(glob.glob(str(tmp_path / 'ade' / 'images' / 'training' / '*.jpg'))) == 3
    ann = cv2.imread(glob.glob(str(tmp_path / 'ade' / 'annotations' / 'validation' / '*'))[0])
    assert ann.shape[:2] == (40, 53)
