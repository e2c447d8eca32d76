"""tools/dataset_converters/prepare_cityscapes.py on a tiny fake Cityscapes tree (official
polygon json format)."""
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'prepare_cityscapes.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location('prepare_cityscapes', TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules['prepare_cityscapes'] = module  # so worker processes can unpickle its functions
    spec.loader.exec_module(module)
    return module


def _polygons(h, w):
    """Official gtFine polygons json: sky on top, road at the bottom, a car, an ego vehicle."""
    return dict(imgHeight=h, imgWidth=w, objects=[
        dict(label='sky', polygon=[[0, 0], [w - 1, 0], [w - 1, h // 2 - 1], [0, h // 2 - 1]]),
        dict(label='road', polygon=[[0, h // 2], [w - 1, h // 2], [w - 1, h - 1], [0, h - 1]]),
        dict(label='car', polygon=[[4, h // 2 + 2], [12, h // 2 + 2], [12, h // 2 + 6],
                                   [4, h // 2 + 6]]),
        dict(label='ego vehicle', polygon=[[0, h - 3], [w - 1, h - 3], [w - 1, h - 1],
                                           [0, h - 1]]),
    ])


def _fake_tree(root, splits=(('train', 'aachen', 2), ('val', 'frankfurt', 1)), h=32, w=64):
    for split, city, n in splits:
        for i in range(n):
            name = f'{city}_000000_{i:06d}'
            img_dir = root / 'leftImg8bit' / split / city
            gt_dir = root / 'gtFine' / split / city
            img_dir.mkdir(parents=True, exist_ok=True)
            gt_dir.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(img_dir / f'{name}_leftImg8bit.png'), np.zeros((h, w, 3), np.uint8))
            (gt_dir / f'{name}_gtFine_polygons.json').write_text(json.dumps(_polygons(h, w)))
    return root


@pytest.fixture
def tool():
    return _load_tool()


@pytest.mark.parametrize('nproc', [1, 2])
def test_converts_polygons_to_train_ids(tmp_path, tool, nproc):
    pytest.importorskip('cityscapesscripts',
                        reason='cityscapesscripts is optional (pip install cityscapesscripts); '
                               'without it only the layout checks are tested')
    root = _fake_tree(tmp_path / 'cityscapes')
    info = tool.prepare_cityscapes(str(root), nproc=nproc)
    assert info['converted'] == 3 and info['splits'] == {'train': 2, 'val': 1}
    label = cv2.imread(str(root / 'gtFine/train/aachen/aachen_000000_000001'
                           '_gtFine_labelTrainIds.png'), cv2.IMREAD_UNCHANGED)
    assert label.shape == (32, 64) and label.dtype == np.uint8
    assert label[2, 30] == 10  # sky
    assert label[24, 40] == 0  # road
    assert label[19, 8] == 13  # car
    assert label[31, 30] == 255  # ego vehicle -> ignore
    assert (root / 'val.txt').read_text() == 'frankfurt/frankfurt_000000_000000\n'
    assert (root / 'train.txt').read_text().splitlines() == [
        'aachen/aachen_000000_000000', 'aachen/aachen_000000_000001']
    again = tool.prepare_cityscapes(str(root), skip_existing=True)
    assert again['converted'] == 0 and again['skipped'] == 3


def test_cli(tmp_path):
    pytest.importorskip('cityscapesscripts', reason='cityscapesscripts is optional')
    root = _fake_tree(tmp_path / 'cityscapes')
    proc = subprocess.run([sys.executable, TOOL, str(root), '--nproc', '1'],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'converted 3 annotation(s)' in proc.stdout
    assert (root / 'gtFine/val/frankfurt/frankfurt_000000_000000_gtFine_labelTrainIds.png').exists()


def test_layout_errors_name_the_expected_layout(tmp_path, tool):
    with pytest.raises(tool.LayoutError, match='is not a directory'):
        tool.find_polygon_files(str(tmp_path / 'nowhere'))
    (tmp_path / 'gtFine_trainvaltest.zip').write_bytes(b'')
    with pytest.raises(tool.LayoutError, match="missing .*leftImg8bit'.*extract it first") as err:
        tool.find_polygon_files(str(tmp_path))
    assert '_gtFine_polygons.json' in str(err.value)  # the expected layout is spelled out
    (tmp_path / 'leftImg8bit').mkdir()
    (tmp_path / 'gtFine').mkdir()
    with pytest.raises(tool.LayoutError, match='none of the split folders'):
        tool.find_polygon_files(str(tmp_path))
    (tmp_path / 'gtFine' / 'train' / 'aachen').mkdir(parents=True)
    with pytest.raises(tool.LayoutError, match='no \\*_gtFine_polygons.json files'):
        tool.find_polygon_files(str(tmp_path))


def test_nested_root_hint(tmp_path, tool):
    _fake_tree(tmp_path / 'cityscapes')
    with pytest.raises(tool.LayoutError, match='Did you mean'):
        tool.find_polygon_files(str(tmp_path))


def test_missing_cityscapesscripts_says_how_to_install(tmp_path, tool, monkeypatch):
    root = _fake_tree(tmp_path / 'cityscapes')
    monkeypatch.setitem(sys.modules, 'cityscapesscripts', None)
    monkeypatch.setitem(sys.modules, 'cityscapesscripts.preparation', None)
    monkeypatch.setitem(sys.modules, 'cityscapesscripts.preparation.json2labelImg', None)
    with pytest.raises(tool.ToolError, match='pip install cityscapesscripts'):
        tool.prepare_cityscapes(str(root))
    with pytest.raises(SystemExit) as exit_:
        tool.run_main(tool.main, [str(root)])
    assert exit_.value.code.startswith('error: tools/dataset_converters/prepare_cityscapes.py ')
