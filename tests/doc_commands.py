"""The shell commands the docs print: README.md, configs/**/README.md and docs/*.md.

A command is a line of a fenced code block that starts with ``python``, ``bash``, ``make``,
``GPUS=N bash``, ``nice -n N python`` (``\\``-continued lines joined; 4-space indented code
blocks too), a ``python - <<'EOF'`` / ``python -c "..."``
script (whole, up to its terminator), or an inline code span that starts with ``python tools/``,
``bash tools/`` or ``make ``. ``VAR=value`` lines of a block (``VAR="a b"`` and
``VAR=$(basename $X .py)`` too) are substituted into later commands;
the body of a ``for X in A B ...; do ... done`` loop is taken once, with X = A (a glob is expanded
against the repo, first match).
"""
import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
DOCS = ['README.md', *(str(p.relative_to(REPO)) for p in sorted(
    [*(REPO / 'configs').rglob('README.md'), *(REPO / 'docs').glob('*.md')]))]
START = re.compile(r'^(?:nice -n \d+ )?(?:[A-Z_]+=\S+\s+)*(python|bash|make)\b')
INLINE = re.compile(r'`((?:python|bash) tools/[^`]+|make [a-z-]+)`')
FOR = re.compile(r'^for (\w+) in (.+?); do$')
ASSIGN = re.compile(r'^([A-Z_]+)=("[^"]*"|\$\([^)]*\)|\S+)$')
BASENAME = re.compile(r'^\$\(basename (\S+) (\S+)\)$')


@dataclass(frozen=True)
class DocCommand:
    doc: str    # file, relative to the repo
    line: int   # 1-based line of the command's first line
    text: str   # the command, continuations joined, variables substituted

    @property
    def id(self) -> str:
        return f'{self.doc}:{self.line}'


def _substitute(text: str, env: Dict[str, str]) -> str:
    for name, value in env.items():
        text = re.sub(rf'\$\{{{name}\}}|\${name}\b', value, text)
    return text


def _first_item(items: str) -> str:
    first = items.split()[0]
    if any(ch in first for ch in '*?['):
        matches = sorted(glob.glob(str(REPO / first)))
        return str(Path(matches[0]).relative_to(REPO)) if matches else first
    return first


def _script_end(lines: List[str], i: int) -> int:
    """Index of the last line of a heredoc or multi-line ``python -c "..."`` starting at i."""
    heredoc = re.search(r"<<'?(\w+)'?", lines[i])
    if heredoc:
        return next(j for j in range(i + 1, len(lines)) if lines[j].strip() == heredoc.group(1))
    if lines[i].rstrip().endswith('"') and lines[i].count('"') % 2:
        return next(j for j in range(i + 1, len(lines)) if lines[j].count('"') % 2)
    return i


def _block_commands(doc: str, lines: List[str], first_line: int) -> List[DocCommand]:
    found, env, i = [], {}, 0
    while i < len(lines):
        stripped = lines[i].strip()
        loop = FOR.match(stripped)
        if loop:
            env[loop.group(1)] = _first_item(loop.group(2))
        elif ASSIGN.match(stripped):
            name, value = ASSIGN.match(stripped).groups()
            value = _substitute(value.strip('"'), env)
            base = BASENAME.match(value)
            env[name] = Path(base.group(1)).name.removesuffix(base.group(2)) if base else value
        elif START.match(stripped):
            start, end = i, _script_end(lines, i)
            if end == i:
                while lines[end].rstrip().endswith('\\'):
                    end += 1
                text = ' '.join(l.strip().rstrip('\\').strip() for l in lines[start:end + 1])
                text = re.sub(r'\s+#.*$', '', text)  # a trailing comment
            else:
                text = '\n'.join(lines[start:end + 1])
            found.append(DocCommand(doc, first_line + start, _substitute(text, env)))
            i = end
        i += 1
    return found


def collect(docs=DOCS) -> List[DocCommand]:
    """Every command of ``docs`` (paths relative to the repo), in document order."""
    commands = []
    for doc in docs:
        lines = (REPO / doc).read_text().split('\n')
        fence, prose, prose_start = None, '', 0
        for n, line in enumerate(lines):
            if line.strip().startswith('```'):
                if fence is None:
                    fence = n
                else:
                    commands += _block_commands(doc, lines[fence + 1:n], fence + 2)
                    fence = None
            elif fence is None and line.startswith('    ') and START.match(line.strip()) and (
                    n == 0 or not lines[n - 1].strip()):  # an indented code block
                commands.append(DocCommand(doc, n + 1, line.strip()))
            elif fence is None:
                prose, prose_start = (prose + ' ' + line.strip(), prose_start) if prose else (
                    line.strip(), n + 1)
                if prose.count('`') % 2 == 0:  # an inline span may wrap onto the next line
                    for span in INLINE.findall(prose):
                        commands.append(DocCommand(doc, prose_start, ' '.join(span.split())))
                    prose = ''
    return commands


def make_recipe(target: str) -> str:
    """The first command of a Makefile target, ``$(PYTHON)`` as ``python`` ('' if no target)."""
    lines = (REPO / 'Makefile').read_text().split('\n')
    start = next((i for i, line in enumerate(lines) if re.match(rf'^{re.escape(target)}:', line)),
                 None)
    if start is None:
        return ''
    recipe = lines[start + 1] if start + 1 < len(lines) else ''
    return recipe.strip().replace('$(PYTHON)', 'python') if recipe.startswith('\t') else ''


def make_targets() -> List[str]:
    """The Makefile's target names."""
    return re.findall(r'^([\w-]+):', (REPO / 'Makefile').read_text(), flags=re.M)


def docstring_commands() -> List[DocCommand]:
    """The example commands of the tools' module docstrings (``python tools/...`` or ``bash
    tools/...`` lines; deeper-indented or ``\\``-continued lines joined, trailing comments cut)."""
    import ast
    commands = []
    for path in sorted((REPO / 'tools').rglob('*.py')):
        module = ast.parse(path.read_text())
        doc = ast.get_docstring(module, clean=False) or ''
        first = module.body[0].lineno if module.body else 1
        lines = doc.split('\n')
        for i, line in enumerate(lines):
            if not re.match(r'^\s*(?:python|bash) tools/', line):
                continue
            indent, parts, j = len(line) - len(line.lstrip()), [line.strip()], i + 1
            while j < len(lines) and (parts[-1].endswith('\\') or (
                    lines[j].strip() and len(lines[j]) - len(lines[j].lstrip()) > indent)):
                parts[-1] = parts[-1].rstrip('\\').strip()
                parts.append(lines[j].strip())
                j += 1
            text = re.sub(r'\s+#.*$', '', ' '.join(p for p in parts if p))
            commands.append(DocCommand(str(path.relative_to(REPO)), first + i, text))
    return commands
