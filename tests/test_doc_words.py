"""Docs, code and tests speak of the project, not of how it was made, and measured times say
where they were measured.

* Every Markdown file of the repo: no line names an issue number (``issue 12``, ``#12``), a
  commit hash (7-40 hex digits, so numbers that long are written with thousands separators),
  "the issue" or the machine it was written on. References to
  other repositories are kept: ``owner/repo#123`` and ``owner/repo at commit <hash>``.
* The code, configs and tests: the same words, except numbers and hashes (code holds hex data).
* Every Markdown file, outside code blocks: no number is sourced by a host named only by where
  the text was written ("this machine", "this CPU", "here"), by a guess ("likely") or by
  "unknown"/"not written down"; a measurement names its CPU model, threads, date and command.
* README.md: a paragraph that gives a time names the CPU model, the threads, the date and the
  command, or links the page in docs/ that lists those runs.
"""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {'.git', 'work_dirs', 'data', 'build', 'tmp'}  # and every .venv*: the make targets

WORDS = [  # (what it is, pattern); case-insensitive
    ('an issue number', r'\bissues?\s+#?\d+'),
    ('"the issue"', r'\bthe\s+issue\b|\bissue\'s\b'),
    ("the project's machine",
     r"\bthis\s+project's\s+(?:build\s+)?machine\b|\bthe\s+build\s+machine\b"),
    ('a run that was not recorded', r'\bnot\s+recorded\b'),
    ('history of the text', r"\bthe\s+README's\s+earlier\b|\bthe\s+previous\s+implementation\b"
                            r'|\bthat\s+version\b|\bof\s+commit\b'),
]
DOC_ONLY = [
    ('an issue reference', r'(?<![\w/.-])#\d+\b'),
    ('a commit hash', r'\b(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b'),  # long numbers: 1,502,538
]
HOST_WORDS = [  # (what it is, pattern); Markdown prose only, case-insensitive
    ('a host named by "this"',
     r'\bthis\s+(?:[a-z-]+\s+)?(?:machine|host|cpu|computer|server|box|laptop)\b'),
    ('"here" as a place', r'\bhere\b'),
    ('a guess', r'\blikely\b'),
    ('"unknown" as a source',
     r'\bunknown\b(?!\s+(?:`|\w+\s+keys?\b|keys?\b|types?\b|flags?\b|options?\b))'),
    ('a source that was not kept', r'\bnot\s+written\s+down\b'),
]
EXTERNAL = re.compile(r'[\w.-]+/[\w.-]+#\d+|[\w.-]+/[\w.-]+ at commit [0-9a-f]{7,40}')


def _files(patterns):
    found = set()
    for pattern in patterns:
        found |= {p for p in REPO.glob(pattern)
                  if p.is_file() and not any(part in SKIP_DIRS or part.startswith('.venv')
                                             for part in p.relative_to(REPO).parts)}
    return sorted(found)


DOCS = _files(['*.md', '**/*.md'])
CODE = [p for p in _files(['mmseg_rga/**/*.py', 'tools/**/*.py', 'tools/*.sh', 'tests/*.py',
                           'configs/**/*.py', 'Makefile', 'setup.py', 'pyproject.toml',
                           '.ci/*', 'requirements/*.txt'])
        if p != Path(__file__).resolve()]


def process_words(line: str, doc: bool):
    """What ``line`` says of how the project was made (a list of (what, text))."""
    line = EXTERNAL.sub('', line)
    checks = WORDS + (DOC_ONLY if doc else [])
    return [(what, m.group(0)) for what, pattern in checks
            for m in re.finditer(pattern, line, flags=re.I)]


def _offending(paths, doc):
    return [f'{p.relative_to(REPO)}:{n}: {what}: {text!r}'
            for p in paths for n, line in enumerate(p.read_text().split('\n'), 1)
            for what, text in process_words(line, doc)]


def host_words(line: str):
    """What ``line`` (Markdown prose) gives as a source that is not one (a list of (what, text))."""
    return [(what, m.group(0)) for what, pattern in HOST_WORDS
            for m in re.finditer(pattern, line, flags=re.I)]


def _prose_lines(path: Path):
    """(line number, line) of a Markdown file outside fenced code blocks."""
    fenced = False
    for n, line in enumerate(path.read_text().split('\n'), 1):
        if line.lstrip().startswith('```'):
            fenced = not fenced
        elif not fenced:
            yield n, line


def test_the_scan_sees_docs_and_code():
    names = {str(p.relative_to(REPO)) for p in DOCS}
    assert {'README.md', 'CHANGELOG.md', 'docs/usage.md', 'configs/rga/README.md'} <= names
    assert REPO / 'tools' / 'train.py' in CODE and REPO / 'tests' / 'doc_commands.py' in CODE


@pytest.mark.parametrize('line', [
    'as asked in issue ' + '12', 'see #' + '12 for the reason', 'measured at abc12' + '34',
    'The ' + 'issue asked for it', "this project's " + 'machine', 'CPU not ' + 'recorded',
    'the previous ' + 'implementation did', 'a test count of ' + 'commit 443238d',
    'timed at 12626' + '47'])
def test_process_words_are_found(line):
    assert process_words(line, doc=True)


@pytest.mark.parametrize('line', [
    'open-mmlab/mmsegmentation#3492 raises', 'openseg-group/OCNet.pytorch at commit 679a45b',
    'the [five-minute check](#the-five-minute-check)', '1,502,538 parameters', 'issues no error'])
def test_references_and_numbers_are_not_process_words(line):
    assert not process_words(line, doc=True)


@pytest.mark.parametrize('line', [  # each one was once in these docs
    'on a host whose CPU model was not ' + 'written down with them', 'is ' + 'likely, not certain',
    'on this ' + 'CPU they take 0.17-0.38', 'did not fit the time this ' + 'machine had',
    'How to read it: on this loaded ' + 'CPU much of', 'not verified (no GPU ' + 'here)',
    'a 2-core x86 host, CPU model ' + 'unknown', 'the few that cannot run ' + 'here'])
def test_host_words_are_found(line):
    assert host_words(line)


@pytest.mark.parametrize('line', [
    'an unknown `rga_cfg` key', 'an unknown key is an error', 'unknown `type`', 'wherever',
    'AMD EPYC (family 23, model 1), 2 cores, 1 thread, 2026-12-04', 'there is no GPU run'])
def test_sources_and_error_words_are_not_host_words(line):
    assert not host_words(line)


def test_docs_name_their_sources():
    found = [f'{p.relative_to(REPO)}:{n}: {what}: {text!r}' for p in DOCS
             for n, line in _prose_lines(p) for what, text in host_words(line)]
    assert not found, '\n'.join(found)


def test_docs_speak_of_the_project():
    assert not _offending(DOCS, doc=True), '\n'.join(_offending(DOCS, doc=True))


def test_code_and_tests_speak_of_the_project():
    assert not _offending(CODE, doc=False), '\n'.join(_offending(CODE, doc=False))


DURATION = re.compile(r'\b\d+(?:\.\d+)?(?:\s*[–-]\s*\d+)?\s*(?:min|minutes|s|seconds)\b')
MACHINE = {'CPU model': r'\b(?:AMD|Intel|Apple|Ampere|Graviton|EPYC|Xeon|Ryzen|Core i\d)\b',
           'threads': r'\b\d+ (?:torch )?threads?\b', 'date': r'\b20\d\d-\d\d-\d\d\b',
           'command': r'`(?:time |make |python |bash |[A-Z_]+=\S+ )[^`]*`'}


def _paragraphs(text):
    """Prose paragraphs of a Markdown text (code blocks and tables left out)."""
    text = re.sub(r'```.*?```', '', text, flags=re.S)
    return [p for p in re.split(r'\n\s*\n', text)
            if p.strip() and not p.lstrip().startswith(('|', '#', '!'))]


def unattributed_times(text):
    """Paragraphs that give a time without its machine, date and command, and link no doc."""
    missing = []
    for para in _paragraphs(text):
        if not DURATION.search(para) or re.search(r'\]\((?:\.\./)?docs/[\w.-]+\.md', para):
            continue
        lacks = [what for what, pattern in MACHINE.items() if not re.search(pattern, para)]
        if lacks:
            missing.append(f'{" ".join(para.split())[:90]}... lacks {", ".join(lacks)}')
    return missing


def test_readme_times_name_machine_threads_date_and_command():
    readme = (REPO / 'README.md').read_text()
    assert not unattributed_times(readme), '\n'.join(unattributed_times(readme))
    measured = [p for p in _paragraphs(readme) if 'Measured' in p]  # the five-minute check's
    assert measured and DURATION.search(measured[0])
    for para in measured:  # in the README itself, not behind a link
        assert all(re.search(pattern, para) for pattern in MACHINE.values()), para


def test_an_unattributed_time_is_found():
    assert unattributed_times('The demo takes 7 minutes on 2 cores.')
    assert not unattributed_times('Measured: 80 s (`make demo-tiny`, AMD EPYC, 2 cores, '
                                  '2 threads, 2026-12-04).')
    assert not unattributed_times('7 minutes: see [the runs](docs/demo.md).')
