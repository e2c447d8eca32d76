"""Every relative link of the docs resolves: the file exists, and a ``#anchor`` names a heading of
it (GitHub's rule: lower case, punctuation dropped, spaces as hyphens). A section that moves to
another page breaks the links to it, and this test says which."""
import re
from pathlib import Path

import pytest
from doc_commands import REPO
from test_doc_words import DOCS

LINK = re.compile(r'\]\(([^)\s]+)\)')


def slug(heading: str) -> str:
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return text.replace(' ', '-')


def anchors(path: Path):
    text = re.sub(r'```.*?```', '', path.read_text(), flags=re.S)
    return {slug(h) for h in re.findall(r'^#+ (.+)$', text, flags=re.M)}


def broken_links(doc: Path):
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r'^[a-z]+:', target):  # https:, mailto:
            continue
        name, _, anchor = target.partition('#')
        path = (doc.parent / name).resolve() if name else doc
        if not path.exists():
            broken.append(f'{target}: no file {path}')
        elif anchor and path.suffix == '.md' and anchor not in anchors(path):
            broken.append(f'{target}: no heading #{anchor} in {path.relative_to(REPO)}')
    return broken


def test_slugs_follow_github():
    assert slug('GPU acceptance run (`tools/analysis_tools/gpu_check.py`)') == \
        'gpu-acceptance-run-toolsanalysis_toolsgpu_checkpy'
    assert slug('Decode heads: `RGA<Name>`') == 'decode-heads-rganame'


@pytest.mark.parametrize('doc', DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_links_resolve(doc):
    assert not broken_links(doc), '\n'.join(broken_links(doc))


def test_readme_is_a_front_door():
    """README.md stays short: what RGA is, install, the checks, one config, Table 6, the
    commands; everything else lives in docs/ and is linked from it."""
    lines = (REPO / 'README.md').read_text().splitlines()
    assert len(lines) <= 150, f'README.md has {len(lines)} lines; move a section to docs/'
