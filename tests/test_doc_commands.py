"""Every command the docs print runs, at a tiny size (``tests/doc_commands.py`` collects them).

Each command runs as a user would type it, from a scratch directory that links the repo's
``configs/`` and ``tools/``, with the tool, flags and config the doc names. Only sizes shrink:
``--synthetic-data`` at 64x128 instead of the dataset, one iteration, small ``--shape``/``--size``
values, one process for the launchers, the first item of a ``{a,b}`` list. Placeholders
(CONFIG, CHECKPOINT, CKPT, a doc's ``iter_40000.pth``) become a config and the checkpoint its
own tiny training wrote; ``make X`` runs the Makefile's command for X. That the doc's
``iter_N.pth`` is its schedule's last checkpoint and that every flag exists is checked before
this rewrite, by ``tests/test_doc_checks.py``.
``SKIPPED`` lists what cannot run here, with the reason; ``COVERED`` what another test already
runs with the same flags (checked: that test's source names the tool and every flag).
"""
import re
import shlex
import socket
import sys
from pathlib import Path

import pytest
from doc_commands import REPO, collect, make_recipe

sys.path.insert(0, str(Path(__file__).parent))
from test_tools import readme_config, run_tool  # noqa: E402

DATA = 'data/synthetic_cityscapes'
SYNTHETIC = ['--synthetic-data', DATA, '--synthetic-size', '64', '128']
TRAIN_OPTIONS = ['train_cfg.max_iters=1', 'train_cfg.val_interval=1000',
                 'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1',
                 'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
                 'train_dataloader.persistent_workers=False']
TEST_OPTIONS = ['test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
                'test_dataloader.dataset.indices=2']  # the first 2 images
TINY_TRAIN = SYNTHETIC + ['--cfg-options'] + TRAIN_OPTIONS
DEFAULT_CONFIG = 'configs/rga/pspnet_rga_cityscapes.py'
SMALL_CONFIG = 'configs/demo/pspnet-rga_r18-d8_synthetic.py'

SKIPPED = {  # pattern -> why it cannot run here
    r'^make test-floor$': 'builds .venv-floor and runs the fast suite there, this test among '
                          'them; CI runs it',
    r'^make test': 'runs the test suite, which this test is part of',
    r'^make env$': 'sets up .venv; `make test`, which runs this test, has just run it',
    r'^make env-floor$': 'builds .venv-floor (the README\'s GPU recipe, Python 3.10); CI runs it',
    r'^make lint$': 'ruff over the repo: a check of the source, nothing to run at a tiny size',
    r'slurm_(train|test)\.sh': 'needs a Slurm cluster (srun)',
    r'--device cuda': 'needs a CUDA GPU',
    r'mmdeploy_check\.py|^make (env|test)-mmdeploy$': 'MMDeploy 1.3.1 needs a venv of its own '
        '(make env-mmdeploy, not CI); make test-mmdeploy runs tests/test_mmdeploy_check.py there',
}
COVERED = {  # pattern -> the test that runs it (at its --tiny / 2-iteration / ResNet-18 size)
    r'^make demo$|^python tools/demo\.py$|^make demo-tiny$': 'tests/test_demo.py',
    r'tools/analysis_tools/seed_study\.py': 'tests/test_seed_study.py',
    r'tools/analysis_tools/benchmark_heads\.py --threads': 'tests/test_benchmark_tools.py',
    r'^python tools/(train|test)\.py (configs/rga/pspnet_rga_cityscapes|my_config)\.py':
        'tests/test_tools.py',
    r'^bash tools/dist_train\.sh (configs/rga/pspnet_rga_cityscapes\.py|CONFIG) ':
        'tests/test_tools.py',
    r'^make wheelhouse\b|tools/analysis_tools/gpu_run\.sh ': 'tests/test_wheelhouse.py',
}
SHAPES = {  # small values for size flags: --flag -> values
    '--shape': ['64', '128'], '--size': ['9'], '--nodes': ['5', '9'], '--channels': ['16'],
    '--batch': ['1'], '--reps': ['1'], '--repeats': ['1'], '--crop-batch': ['2'],
    '--check-shape': ['40', '72'],
}


def _replace_flag(tokens, flag, values):
    """Every occurrence of ``flag``'s values replaced by ``values``."""
    out, i = [], 0
    while i < len(tokens):
        out.append(tokens[i])
        if tokens[i] == flag:
            out += values
            i += 1
            while i < len(tokens) and not tokens[i].startswith('--'):
                i += 1
            continue
        i += 1
    return out


def _shrink(tokens):
    for flag, values in SHAPES.items():
        tokens = _replace_flag(tokens, flag, values)
    return _replace_flag(tokens, '--sweep-pooled', ['5', '9'])


def _config_and_ckpt(tokens, sandbox, trainer):
    """CONFIG/CHECKPOINT placeholders and doc checkpoint paths -> real files."""
    out = [SMALL_CONFIG if t == 'CONFIG' else t for t in tokens]  # "your config"
    config = next((t for t in out if t.endswith('.py') and t.startswith(('configs/', 'my_'))),
                  None)
    for i, token in enumerate(out):
        if token in ('CKPT', 'CHECKPOINT'):  # what the doc's own train command wrote, if run
            token = f'work_dirs/{Path(config or DEFAULT_CONFIG).stem}/iter_1.pth'
        if re.search(r'iter_\d+\.pth$', token):
            written = re.sub(r'iter_\d+\.pth$', 'iter_1.pth', token)
            out[i] = written if (sandbox / written).is_file() else trainer(config)
    return out


def plan(text, sandbox, trainer):
    """The argv that runs ``text`` at a tiny size in ``sandbox`` (a list), or the skip reason."""
    for pattern, reason in SKIPPED.items():
        if re.search(pattern, text):
            return reason
    if '\n' in text:  # a python - <<EOF / python -c "..." script: run as written
        return ['bash', '-c', text.replace('python', sys.executable, 1)]
    text = re.sub(r'\{([^,{}]+),[^{}]*\}', r'\1', text)  # a {a,b,...} list: its first item
    tokens = shlex.split(re.sub(r'^nice -n \d+ |^[A-Z_]+=\S+ ', '', text))
    tokens = [t for t in tokens if not (t.startswith('[') or t.endswith(']'))]  # [optional]
    if tokens[0] == 'make':  # the target's command, as the Makefile runs it
        tokens = shlex.split(make_recipe(tokens[1]))
    tokens = _config_and_ckpt(_shrink(tokens), sandbox, trainer)
    tool = next((t for t in tokens if t.startswith('tools/')), '')
    if tool.endswith('benchmark_relation.py'):
        tokens += ['--batch', '1', '--channels', '64', '--size', '9']
    if tool.endswith('train.py') or tool.endswith('dist_train.sh'):  # the doc's options, then ours
        tokens = [t for t in tokens if t not in ('--synthetic-data', DATA)]
        tokens = (_launcher(tokens) + SYNTHETIC + ['--cfg-options'] + _cfg_options(tokens) +
                  TRAIN_OPTIONS)
    elif tool.endswith('test.py') or tool.endswith('dist_test.sh'):
        tokens = (_launcher(tokens) + SYNTHETIC + ['--cfg-options'] + _cfg_options(tokens) +
                  TEST_OPTIONS)
    elif tool.endswith('benchmark_slide.py'):
        tokens += [] if '--shape' in tokens else ['--shape', '64', '128']
        tokens += [] if '--crop-size' in tokens else ['--crop-size', '32', '32', '--stride',
                                                      '24', '24']
    elif tool.endswith('benchmark_heads.py'):
        tokens += ['--size', '9', '--batch', '1']
    elif tool.endswith('benchmark_pool.py'):
        tokens += ['--channels', '16', '--repeats', '1']
    if tokens[0] == 'python':
        tokens[0] = sys.executable
    return tokens


def _launcher(tokens):
    """Everything before --cfg-options; a launcher's GPU count becomes 1 process."""
    head = tokens[:tokens.index('--cfg-options')] if '--cfg-options' in tokens else tokens
    if head[0] == 'bash':
        count = 3 if head[1].endswith('dist_train.sh') else 4
        head = head[:count] + ['1'] + head[count + 1:]
    return head


def _cfg_options(tokens):
    return tokens[tokens.index('--cfg-options') + 1:] if '--cfg-options' in tokens else []


def _unique():
    seen = {}
    for cmd in collect():
        seen.setdefault(cmd.text, []).append(cmd.id)
    return list(seen.items())


COMMANDS = _unique()
RUN = {}  # shrunk argv -> the first doc place that ran it


@pytest.fixture(scope='module')
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp('docs')
    for name in ('configs', 'tools'):
        (root / name).symlink_to(REPO / name)
    (root / 'my_config.py').write_text(readme_config())
    return root


@pytest.fixture(scope='module')
def trainer(sandbox):
    """config -> a checkpoint of it, trained once (1 iteration at 64x128) in the sandbox."""
    done = {}

    def train(config):
        config = config or DEFAULT_CONFIG
        if config not in done:
            work_dir = sandbox / 'work_dirs' / 'trained' / Path(config).stem
            run_tool([str(REPO / 'tools' / 'train.py'), config, '--work-dir', str(work_dir),
                      *TINY_TRAIN], cwd=sandbox)
            done[config] = str(work_dir / 'iter_1.pth')
        return done[config]
    return train


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def test_commands_are_found():
    texts = [text for text, _ in COMMANDS]
    assert len(texts) > 30
    for tool in ('tools/train.py', 'tools/test.py', 'get_flops.py', 'dist_train.sh',
                 'visualize_attention.py', 'pytorch2onnx.py', 'benchmark_slide.py'):
        assert any(tool in t for t in texts), tool


@pytest.mark.parametrize('text', [t for t, _ in COMMANDS if any(
    re.search(p, t) for p in COVERED)])
def test_covered_elsewhere(text):
    test_file = next(f for p, f in COVERED.items() if re.search(p, text))
    source = (REPO / test_file).read_text()
    tokens = shlex.split(make_recipe(text.split()[1]) if text.startswith('make ') else text)
    tool = next(t for t in tokens if t.startswith('tools/'))
    configs = [Path(t).name for t in tokens if t.endswith('.py') and t != tool]
    for needed in [Path(tool).name, *configs, *(t for t in tokens if t.startswith('--'))]:
        assert needed in source, f'{test_file} does not run {needed} of `{text}`'


FIRST_HALF = ('README.md:', 'docs/train_test.md:')  # they share the short config's checkpoints


def in_first_half(where) -> bool:
    return where[0].startswith(FIRST_HALF)


@pytest.mark.slow
@pytest.mark.parametrize('text,where', [(t, w) for t, w in COMMANDS if in_first_half(w)],
                         ids=[', '.join(w) for _, w in COMMANDS if in_first_half(w)])
def test_readme_command_runs(text, where, sandbox, trainer):
    """README.md's and docs/train_test.md's commands (the other docs':
    test_doc_commands_more.py, so that pytest-xdist runs the two halves on two workers)."""
    run_documented(text, where, sandbox, trainer)


def run_documented(text, where, sandbox, trainer):
    """Run one documented command at its tiny size in ``sandbox`` (or skip it, saying why)."""
    if any(re.search(p, text) for p in COVERED):
        pytest.skip('run by ' + next(f for p, f in COVERED.items() if re.search(p, text)))
    argv = plan(text, sandbox, trainer)
    if isinstance(argv, str):
        pytest.skip(argv)
    if 'prepare_cityscapes.py' in text:
        from test_prepare_cityscapes import _fake_tree
        _fake_tree(sandbox / 'data' / 'cityscapes')
    if 'convert_official_rga.py' in text:
        _official_checkpoint(sandbox / 'official.pth.tar')
    if 'visualize_attention.py' in text:
        trainer(SMALL_CONFIG)  # writes the generated image the command names
    key = ' '.join(argv)
    if key in RUN:
        pytest.skip(f'at the tiny size this is the same run as {RUN[key]}')
    RUN[key] = where[0]
    env = {'PYTHON': sys.executable, 'PORT': _free_port(), 'PYTHONWARNINGS': 'ignore'}
    run_tool(argv, cwd=sandbox, env=env, timeout=600)


def _official_checkpoint(path):
    """An official re-id checkpoint's layout: rga_att4 (2048 channels, 16x8 nodes) and others."""
    import torch

    from mmseg_rga.testing import OfficialRGAModule
    module = OfficialRGAModule(2048, 16 * 8)
    state = {f'backbone.rga_att4.{k}': v for k, v in module.state_dict().items()}
    state['backbone.conv1.weight'] = torch.zeros(64, 3, 7, 7)
    torch.save({'state_dict': state, 'epoch': 600}, path)
