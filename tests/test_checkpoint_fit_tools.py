"""A checkpoint at another node grid through the real tools: tools/test.py and --resume refuse
it in one line (no metrics, no new checkpoint); load_from fine-tunes from it with one line per
RGA block that keeps its initialization. One 2-iteration run at 8x8 nodes is shared; the tiny
config and helpers are tests/test_tools.py's."""
import shutil

import pytest
from test_tools import TINY_CONFIG, eval_cmd, run_tool, train_cmd

from mmseg_rga.datasets.synthetic import generate_synthetic_cityscapes

pytestmark = pytest.mark.slow
GRID4 = 'model.decode_head.rga_cfg.pooled_size=(4,4)'  # the tiny config trains at (8, 8)
REFUSAL = ('decode_head.rga was trained with 8×8 nodes; this config builds 4×4: set '
           'rga_cfg.pooled_size=(8, 8), or retrain')


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp('checkpoint_fit')
    generate_synthetic_cityscapes(str(root / 'data'), num_train=4, num_val=2,
                                  image_size=(64, 128), seed=0)
    (root / 'tiny.py').write_text(TINY_CONFIG)
    return root


@pytest.fixture(scope='module')
def trained(workspace):
    """2 iterations at 8x8 nodes: work_dir with iter_2.pth."""
    work_dir = workspace / 'grid8'
    run_tool(train_cmd(workspace / 'tiny.py', work_dir, workspace / 'data', max_iters=2,
                       val_interval=2), cwd=workspace)
    assert (work_dir / 'iter_2.pth').is_file()
    return work_dir


def _last_line(out):
    return out.rstrip().splitlines()[-1]


def test_test_at_another_grid_fails_in_one_line_and_writes_no_metrics(workspace, trained):
    work_dir = workspace / 'test4'
    cmd = eval_cmd(workspace / 'tiny.py', trained / 'iter_2.pth', work_dir, workspace / 'data')
    rc, out = run_tool(cmd + [GRID4], cwd=workspace, check=False)
    last = _last_line(out)
    assert rc == 1, out[-3000:]
    assert last.startswith(f'error: checkpoint {trained / "iter_2.pth"} does not fit the model '
                           'of this config: '), last
    assert ('decode_head.rga.spatial.relation.weight is (8, 128, 1, 1) in the checkpoint, '
            '(2, 32, 1, 1) in the model') in last
    assert last.endswith(REFUSAL), last
    assert 'Traceback' not in out and 'size mismatch' not in out
    assert 'mIoU:' not in out  # nothing was evaluated
    assert not list(work_dir.rglob('*.json'))  # no metrics file
    # (at its own grid the same checkpoint is tested: tests/test_tools.py's test modes)


def test_resume_at_another_grid_fails_in_one_line(workspace, trained):
    work_dir = workspace / 'resume4'
    shutil.copytree(trained, work_dir)
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_2.pth'))
    cmd = train_cmd(workspace / 'tiny.py', work_dir, workspace / 'data', '--resume', max_iters=4)
    rc, out = run_tool(cmd + [GRID4], cwd=workspace, check=False)
    last = _last_line(out)
    assert rc == 1, out[-3000:]
    assert last.startswith(f'error: cannot resume from {work_dir / "iter_2.pth"}: it does not '
                           'fit the model of this config: '), last
    assert last.endswith(f'{REFUSAL} (load_from fine-tunes from it at the new settings)'), last
    assert not (work_dir / 'iter_4.pth').exists() and 'Traceback' not in out


def test_load_from_at_another_grid_trains_with_a_one_line_notice(workspace, trained):
    work_dir = workspace / 'finetune4'
    cmd = train_cmd(workspace / 'tiny.py', work_dir, workspace / 'data', max_iters=2,
                    val_interval=2)
    _, out = run_tool(cmd + [GRID4, f'load_from={trained / "iter_2.pth"}'], cwd=workspace)
    notices = [line for line in out.splitlines() if 'keeps its initialization' in line]
    assert len(notices) == 1, notices
    assert notices[0].endswith(f'load_from {trained / "iter_2.pth"}: decode_head.rga keeps its '
                               'initialization: it was trained with 8×8 nodes; this config '
                               'builds 4×4'), notices
    assert 'size mismatch' not in out and 'do not match exactly' not in out
    assert 'other weights keep their initialization' not in out  # the rest fits
    assert (work_dir / 'iter_2.pth').is_file()
