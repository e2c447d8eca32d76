"""The documented commands, checked as the doc prints them (before test_doc_commands.py shrinks
and rewrites them to run): every ``--flag`` exists in the argparse of the tool it is given to,
every ``make`` target exists, and every checkpoint ``iter_N.pth`` is the last one of the schedule
it comes from: the config's ``train_cfg.max_iters``, or ``train_cfg.max_iters=N`` on the same
command. Commands come from the docs (``doc_commands.collect``) and from the tools' docstrings,
whose examples keep their line breaks: a docstring that ends a line with ``\\`` is raw (in a
plain one Python joins the lines, and ``help()`` prints the example as one long line).

A tool's options are read from its own parser: the tool's module is loaded, ``main([])`` runs
with ``ArgumentParser.parse_args`` replaced by a function that hands the parser back (every
tool parses its arguments before anything else), so nothing of the tool runs.
"""
import argparse
import functools
import glob
import importlib.util
import re
import shlex
from pathlib import Path
from unittest import mock

import pytest
from doc_commands import REPO, collect, docstring_commands, make_targets

COMMANDS = [*collect(), *docstring_commands()]
LAUNCHERS = {'dist_train.sh': 'tools/train.py', 'slurm_train.sh': 'tools/train.py',
             'dist_test.sh': 'tools/test.py', 'slurm_test.sh': 'tools/test.py',
             'gpu_run.sh': 'tools/analysis_tools/gpu_check.py'}
CHECKPOINT = re.compile(r'iter_(\d+)\.pth\b')


class _Parser(Exception):
    def __init__(self, parser):
        super().__init__()
        self.parser = parser


def _hand_back(parser, *args, **kwargs):
    raise _Parser(parser)


@functools.lru_cache(maxsize=None)
def tool_options(tool: str) -> frozenset:
    """Every option string (``--work-dir``, ``-h``, ...) of ``tool``'s argparse parser."""
    path = REPO / tool
    spec = importlib.util.spec_from_file_location(f'doc_checked_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with mock.patch.object(argparse.ArgumentParser, 'parse_args', _hand_back), \
            mock.patch.object(argparse.ArgumentParser, 'parse_known_args', _hand_back):
        try:
            module.main([])
        except _Parser as handed:
            return frozenset(handed.parser._option_string_actions)
    raise AssertionError(f'{tool}: main() returned without parsing its arguments')


def tokens_of(text: str):
    """The argv of a one-line command: env assignments, ``nice`` and ``[ ]`` marks removed."""
    text = re.sub(r'^nice -n \d+ ', '', text)
    text = re.sub(r'^(?:[A-Z_]+=\S+\s+)+', '', text)
    return shlex.split(text.replace('[', ' ').replace(']', ' '))


def tool_and_flags(text: str):
    """(the Python tool that parses the flags, the ``--flags`` given to it), or (None, [])."""
    tokens = tokens_of(text)
    at = next((i for i, t in enumerate(tokens) if t.startswith('tools/')), None)
    if at is None or tokens[0] not in ('python', 'bash'):
        return None, []
    tool = LAUNCHERS.get(Path(tokens[at]).name, tokens[at])
    if not tool.endswith('.py'):
        return None, []
    flags = [t.split('=', 1)[0] for t in tokens[at + 1:] if t.startswith('-') and len(t) > 1
             and not re.match(r'^-\d', t)]
    return tool, flags


SCRIPTS = [c for c in COMMANDS if '\n' in c.text]  # python - <<EOF / python -c "...": no flags
FLAGGED = [c for c in COMMANDS if c not in SCRIPTS and tool_and_flags(c.text)[1]]
MAKE = [c for c in COMMANDS if c.text.startswith('make ')]
WITH_CHECKPOINT = [c for c in COMMANDS if CHECKPOINT.search(c.text)]


def test_commands_of_every_kind_are_checked():
    assert len(FLAGGED) > 40 and len(MAKE) >= 5 and len(WITH_CHECKPOINT) >= 8
    docs = {c.doc for c in FLAGGED}
    assert {'configs/rga/README.md', 'docs/train_test.md', 'docs/usage.md', 'tools/test.py'} <= docs


@pytest.mark.parametrize('command', FLAGGED, ids=[c.id for c in FLAGGED])
def test_every_flag_exists_in_the_tools_argparse(command):
    tool, flags = tool_and_flags(command.text)
    assert (REPO / tool).is_file(), f'{command.id}: no tool {tool}'
    unknown = [f for f in flags if f not in tool_options(tool)]
    assert not unknown, f'{command.id}: {tool} has no {", ".join(unknown)}: `{command.text}`'


@pytest.mark.parametrize('command', MAKE, ids=[c.id for c in MAKE])
def test_every_make_target_exists(command):
    target = tokens_of(command.text)[1]
    assert target in make_targets(), f'{command.id}: the Makefile has no target {target!r}'


@functools.lru_cache(maxsize=None)
def max_iters(config: str) -> int:
    from mmengine.config import Config
    return Config.fromfile(str(REPO / config)).train_cfg.max_iters


def schedule_of(text: str):
    """(where the schedule comes from, its last iteration) for one command."""
    option = re.search(r'\btrain_cfg\.max_iters=(\d+)', text)
    if option:
        return '--cfg-options', int(option.group(1))
    text = re.sub(r'\{([^,{}]+),[^{}]*\}', r'\1', text)  # a {a,b} list: its first item
    for token in tokens_of(text):
        if token.startswith('configs/') and token.endswith('.py'):
            matches = sorted(glob.glob(str(REPO / token)))
            assert matches, f'no config {token}'
            config = str(Path(matches[0]).relative_to(REPO))
            return config, max_iters(config)
    return None, None


@pytest.mark.parametrize('command', WITH_CHECKPOINT, ids=[c.id for c in WITH_CHECKPOINT])
def test_checkpoint_names_match_the_schedule(command):
    source, last = schedule_of(command.text)
    assert source, f'{command.id}: an iter_N.pth without a config to check it against'
    for iteration in map(int, CHECKPOINT.findall(command.text)):
        assert iteration == last, (f'{command.id}: iter_{iteration}.pth, but {source} trains '
                                   f'{last} iterations: `{command.text}`')


def joined_lines(path: Path):
    """Line numbers of the docstrings in ``path`` that end a line with ``\\`` without being raw:
    Python drops the backslash and the newline, so ``help()`` prints the example as one line."""
    import ast
    source = path.read_text()
    found = []
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, 'body', None)
        scopes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        if not (isinstance(node, scopes) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            continue
        literal = ast.get_source_segment(source, body[0].value)
        prefix = re.match(r'[a-zA-Z]*', literal).group(0)
        if 'r' not in prefix.lower() and re.search(r'(?<!\\)(?:\\\\)*\\\n', literal):
            found.append(body[0].lineno)
    return found


def test_a_joined_docstring_line_is_found(tmp_path):
    path = tmp_path / 'tool.py'
    path.write_text('"""Run it.\n\n    python tools/x.py A \\\n        --flag\n"""\n'
                    'def f():\n    r"""Raw: python tools/x.py \\\n    --flag"""\n'
                    'def g():\n    """Escaped: python tools/x.py \\\\\n    --flag"""\n')
    assert joined_lines(path) == [1]


SOURCES = sorted([*REPO.glob('tools/**/*.py'), *REPO.glob('mmseg_rga/**/*.py')])


@pytest.mark.parametrize('path', SOURCES, ids=[str(p.relative_to(REPO)) for p in SOURCES])
def test_docstring_examples_keep_their_line_breaks(path):
    assert not joined_lines(path), (f'{path.relative_to(REPO)}: a docstring at line(s) '
                                    f'{joined_lines(path)} ends a line with "\\" but is not raw')
