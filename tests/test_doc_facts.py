"""What the docs state about the code is what the code does, where a line of text can check it.

* A requirement range quoted in a sentence that names ``requirements/runtime.txt`` or
  ``setup.py`` (e.g. `` `mmcv>=2.1.0,<2.2.0` ``) is runtime.txt's range for that package.
* Work dirs follow mmseg's convention, ``work_dirs/<config name>``: in every documented train,
  test or launcher command (docs and tool docstrings), a ``work_dirs/...`` path names the
  config's own directory (``<config name>``, or ``<config name>_train`` for the train-split
  test that ``collect_table6.py`` reads).
* The README names the test command, and it is what CI (``.ci/run``) runs first.
* Test counts (``N passed``) drift with every commit: they appear in docs/development.md only.
"""
import re
import shlex
from pathlib import Path

import pytest
from doc_commands import REPO, collect, docstring_commands
from packaging.requirements import InvalidRequirement, Requirement
from test_doc_words import DOCS, _prose_lines

SPAN = re.compile(r'`([A-Za-z][\w.-]*\s*[<>=!~][^`]*)`')
NAMES_RANGES = re.compile(r'runtime\.txt|setup\.py')


def runtime_ranges():
    lines = (REPO / 'requirements' / 'runtime.txt').read_text().splitlines()
    reqs = [Requirement(ln.split('#')[0]) for ln in lines if ln.strip() and ln[0] != '#']
    return {r.name.lower(): r.specifier for r in reqs}


def _paragraphs(path: Path):
    """(first line, text) of each prose paragraph of a Markdown file (code blocks left out)."""
    para, start = [], 0
    for n, line in [*_prose_lines(path), (0, '')]:
        if line.strip():
            start = start or n
            para.append(line)
        elif para:
            yield start, ' '.join(para)
            para, start = [], 0


def misquoted_ranges(text: str, ranges):
    """The quoted requirements of ``text`` that differ from ``ranges`` (name -> specifier)."""
    wrong = []
    for span in SPAN.findall(text):
        try:
            req = Requirement(span.replace(' ', ''))
        except InvalidRequirement:
            continue
        name = req.name.lower()
        if name in ranges and req.specifier != ranges[name]:
            wrong.append(f'`{span}` (runtime.txt: {name}{ranges[name]})')
    return wrong


def test_a_misquoted_range_is_found():
    ranges = {'mmcv': Requirement('mmcv>=2.1.0,<2.2.0').specifier}
    assert misquoted_ranges('(`requirements/runtime.txt`: `mmcv>=2.0.0rc4,<2.2.0`, …)', ranges)
    assert not misquoted_ranges('`mmcv>=2.1.0,<2.2` and `mmcv<2.2.0,>=2.1.0`', ranges)


def sentences(text: str):
    return re.split(r'(?<=[.;!?])\s+(?=[A-Z`(])', text)


def test_quoted_requirement_ranges_are_runtime_txt():
    ranges = runtime_ranges()
    wrong = [f'{doc.relative_to(REPO)}:{n}: {w}' for doc in DOCS
             for n, text in _paragraphs(doc) for sentence in sentences(text)
             if NAMES_RANGES.search(sentence) for w in misquoted_ranges(sentence, ranges)]
    assert not wrong, '\n'.join(wrong)


RUNS = re.compile(r'(?:^|/)(?:train|test)\.py$|(?:dist|slurm)_(?:train|test)\.sh$')
OUTPUT_FLAGS = ('--out', '--show-dir')  # what a test run writes besides its work dir


def foreign_work_dirs(text: str):
    """The ``work_dirs/...`` paths of a train/test command that are not its config's."""
    tokens = shlex.split(re.sub(r'^(?:[A-Z_]+=\S+\s+)+', '', text).replace('[', ' ')
                         .replace(']', ' '))
    if not any(RUNS.search(t) for t in tokens):
        return []
    config = next((Path(t).stem for t in tokens if t.endswith('.py') and '/configs/' in '/' + t),
                  None)
    if config is None:
        return []
    wrong = []
    for i, token in enumerate(tokens):
        if 'work_dirs/' not in token or (i and tokens[i - 1] in OUTPUT_FLAGS):
            continue
        directory = re.sub(r'/(?:iter_\d+\.pth|[^/]+\.pth)$', '', token.rstrip('/'))
        if Path(directory).name not in (config, config + '_train'):
            wrong.append(token)
    return wrong


@pytest.mark.parametrize('text,ok', [
    ('python tools/test.py configs/rga/pspnet_rga_cityscapes.py work_dirs/psp_rga/iter_40000.pth',
     False),
    ('GPUS=4 bash tools/slurm_train.sh P J configs/rga/pspnet_rga_cityscapes.py work_dirs/x',
     False),
    ('python tools/test.py configs/rga/a.py work_dirs/a/iter_40000.pth --out work_dirs/preds',
     True),
    ('bash tools/dist_test.sh configs/rga/a.py work_dirs/t/a/iter_1.pth 4 --work-dir '
     'work_dirs/t/a_train', True),
    ('python tools/visualize_attention.py configs/demo/b.py work_dirs/demo/rga/iter_1.pth', True)])
def test_a_foreign_work_dir_is_found(text, ok):
    assert (not foreign_work_dirs(text)) == ok


def test_work_dirs_are_named_after_their_config():
    commands = [*collect(), *docstring_commands()]
    assert sum('work_dirs/' in c.text for c in commands) > 10
    wrong = [f'{c.id}: {w} in `{c.text}`' for c in commands for w in foreign_work_dirs(c.text)]
    assert not wrong, '\n'.join(wrong)


def test_the_readme_test_command_is_what_ci_runs():
    readme = (REPO / 'README.md').read_text()
    stated = re.findall(r'Tests: `(make [\w-]+)`', readme)
    assert len(stated) == 1, 'README.md names its test command once, as "Tests: `make ...`"'
    ci = [ln.strip() for ln in (REPO / '.ci' / 'run').read_text().splitlines()
          if ln.strip().startswith('make ')]
    assert ci and ci[0] == stated[0], (stated, ci)


def test_test_counts_live_in_one_place():
    counts = [f'{doc.relative_to(REPO)}:{n}' for doc in DOCS for n, text in _paragraphs(doc)
              if re.search(r'\b\d+ passed\b', text)]
    assert counts and all(c.startswith('docs/development.md:') for c in counts), counts


def _table(text: str, header: str):
    """The rows (lists of cells) of the Markdown table whose header line starts with ``header``."""
    rows = []
    for line in text[text.index(header):].splitlines()[2:]:
        if not line.startswith('|'):
            break
        rows.append([cell.strip() for cell in line.strip('|').split('|')])
    return rows


def test_table6_baselines_are_mmsegs_published_runs():
    """docs/table6.md's mIoU, memory and log links are the installed mmseg's metafiles'."""
    import mmseg
    from mmengine.fileio import load
    text = (REPO / 'docs' / 'table6.md').read_text()
    rows = _table(text, '| config | val mIoU, 40k / 80k')
    assert len(rows) == 3
    for cells in rows:
        method = re.match(r'`(\w+)_r101', cells[0]).group(1)
        meta = {m['Name']: m for m in load(str(Path(mmseg.__file__).parent / '.mim' / 'configs' /
                                                method / 'metafile.yaml'))['Models']}
        runs = [meta[f'{method}_r101-d8_4xb2-{s}_cityscapes-769x769'] for s in ('40k', '80k')]
        assert cells[1] == ' / '.join(f'{r["Results"]["Metrics"]["mIoU"]:.2f}' for r in runs)
        assert cells[2] == ' / '.join(f'{r["Results"]["Metrics"]["mIoU(ms+flip)"]:.2f}'
                                      for r in runs)
        assert float(cells[3]) == runs[0]['Metadata']['Memory (GB)']
        assert re.findall(r'\((https://[^)]+)\)', cells[5]) == [r['Training log'] for r in runs]


def test_table6_cost_is_its_own_arithmetic():
    """Every estimate row: s/iter = 0.83 x GFLOPs / 512.86, hours = s/iter x iters x 4 / 3600."""
    text = (REPO / 'docs' / 'table6.md').read_text()
    rows = [*_table(text, '| config `…_r101-d8_4xb2-{40k,80k}'),
            *_table(text, '| config `…_r101-d8_4xb2-40k_cityscapes-769x769` | GFLOPs')]
    assert len(rows) == 16
    for name, gflops, _, seconds, hours in rows:
        s = 0.83 * float(gflops) / 512.86
        assert abs(float(seconds) - s) < 0.006, name
        for iters, h in zip((40000, 80000), hours.split(' / ')):
            assert h == '–' or abs(float(h) - s * iters * 4 / 3600) < 0.6, (name, h)
