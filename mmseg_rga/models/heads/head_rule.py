"""The rule of :func:`~.rga_heads.rga_head`: does a decode head's ``forward`` reach ``cls_seg``?

RGA sits in ``cls_seg``; a head whose ``forward`` never gets there would build the block and
never run it. The rule reads the source of ``forward`` and of the methods it calls:

* a ``self.cls_seg`` reference (a call, or the bound method handed to a sub-module) reaches it;
* a ``self.m(...)`` call is followed into ``m`` as the head's MRO finds it, a
  ``super().m(...)`` call into ``m`` after the calling class; only methods defined on decode head
  classes are followed (``nn.Module``'s own methods never reach ``cls_seg``).

Sources are read the same way on every Python: the ``def`` that starts at the first line of the
method's code object is parsed with :mod:`ast` (its lines found by indentation; the whole file
when that block does not parse alone) and walked. No line-table API is involved
(``co_positions`` exists only from Python 3.11 on), so Python 3.9 to 3.13 give the same answers.

A method whose source cannot be read (defined by ``exec``, in a C extension or a ``.pyc``
without its ``.py``, or not a plain function) cannot show a way to ``cls_seg``. The answer is
then *unknown* (``None``) unless another, readable path reaches ``cls_seg``; :func:`rga_head`
refuses an unknown head, naming the method it could not read.
"""
import ast
import functools
import linecache
import textwrap
from typing import List, NamedTuple, Optional, Set, Tuple, Type

from mmseg.models.decode_heads.decode_head import BaseDecodeHead


class _Uses(NamedTuple):
    """What one method's source does: ``self.cls_seg`` referenced, ``self.m(...)`` and
    ``super().m(...)`` calls."""
    cls_seg: bool
    self_calls: Tuple[str, ...]
    super_calls: Tuple[str, ...]


def _is_def(node, code) -> bool:
    return (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == code.co_name
            and code.co_firstlineno in {node.lineno} | {d.lineno for d in node.decorator_list})


def _block_node(lines: List[str], code) -> Optional[ast.AST]:
    """Fast path: the ``def`` at ``code.co_firstlineno`` parsed alone, its lines found by their
    indentation. A block cut short (a line at the ``def``'s indentation inside a string or
    brackets) does not parse: None, and the caller parses the whole file."""
    first = code.co_firstlineno - 1
    indent = len(lines[first]) - len(lines[first].lstrip())
    body = next((i + 1 for i in range(first, len(lines))
                 if lines[i].lstrip().startswith(('def ', 'async def '))), len(lines))
    end = next((i for i in range(body, len(lines)) if lines[i].strip()
                and not lines[i].lstrip().startswith('#')
                and len(lines[i]) - len(lines[i].lstrip()) <= indent), len(lines))
    try:
        tree = ast.parse(textwrap.dedent(''.join(lines[first:end])))
    except SyntaxError:
        return None
    node = tree.body[0] if tree.body else None
    if node is not None:  # line numbers of the file, for _is_def
        ast.increment_lineno(node, first)
    return node if _is_def(node, code) else None


@functools.lru_cache(maxsize=None)
def _module_tree(filename: str) -> Optional[ast.Module]:
    """The parsed source file ``filename`` (via linecache), or None when it does not parse."""
    try:
        return ast.parse(''.join(linecache.getlines(filename)), filename)
    except SyntaxError:
        return None


def function_node(func) -> Optional[ast.AST]:
    """The ``def`` node of ``func`` (a function, staticmethod, classmethod or a
    ``functools.wraps`` wrapper of one) in its source file, or None when it cannot be read."""
    for _ in range(16):  # through bound methods, static/class methods and wrappers, any order
        inner = getattr(func, '__func__', None) or getattr(func, '__wrapped__', None)
        if inner is None:
            break
        func = inner
    code = getattr(func, '__code__', None)
    lines = linecache.getlines(code.co_filename) if code is not None else []
    if len(lines) < getattr(code, 'co_firstlineno', 0) or not lines:
        return None
    node = _block_node(lines, code)
    if node is None:  # the whole file, once
        tree = _module_tree(code.co_filename)
        node = next((n for n in ast.walk(tree) if _is_def(n, code)), None) if tree else None
    return node


@functools.lru_cache(maxsize=None)
def _uses(func) -> Optional[_Uses]:
    """:class:`_Uses` of ``func`` read from its source (once per function); None if unreadable."""
    tree = function_node(func)
    if tree is None:
        return None
    cls_seg, self_calls, super_calls = False, [], []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr == 'cls_seg'
                and isinstance(node.value, ast.Name) and node.value.id == 'self'):
            cls_seg = True  # called, or handed on as a callable (PIDHead)
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        target, called = node.func.value, node.func.attr
        if isinstance(target, ast.Name) and target.id == 'self':
            self_calls.append(called)
        if (isinstance(target, ast.Call) and isinstance(target.func, ast.Name)
                and target.func.id == 'super'):
            super_calls.append(called)
    return _Uses(cls_seg, tuple(self_calls), tuple(super_calls))


class _Search:
    """One walk of the call graph from ``forward``: visited methods, unreadable ones."""

    def __init__(self, cls: type):
        self.cls = cls
        self.seen: Set[tuple] = set()
        self.unread: List[str] = []

    def reaches(self, name: str, start: int) -> Optional[bool]:
        """Does method ``name`` (looked up on ``cls.__mro__[start:]``) reach ``cls_seg``?
        True, False, or None when only unreadable methods are left to answer."""
        mro = self.cls.__mro__
        owner = next((k for k in mro[start:] if name in vars(k)), None)
        if owner is None or not issubclass(owner, BaseDecodeHead) or (owner, name) in self.seen:
            return False
        self.seen.add((owner, name))
        uses = _uses(vars(owner)[name])
        if uses is None:
            self.unread.append(f'{owner.__name__}.{name}')
            return None
        if uses.cls_seg:
            return True
        after_owner = mro.index(owner) + 1
        answers = ([self.reaches(m, 0) for m in uses.self_calls]
                   + [self.reaches(m, after_owner) for m in uses.super_calls])
        return True if True in answers else (None if None in answers else False)


def forward_reaches_cls_seg(cls: Type[BaseDecodeHead]) -> Optional[bool]:
    """The rule (module docstring): True, False, or None (unknown: a method on the way has no
    readable source and no readable path reaches ``cls_seg``)."""
    return _Search(cls).reaches('forward', 0)


def unreadable_methods(cls: Type[BaseDecodeHead]) -> List[str]:
    """``Class.method`` names whose source the rule needed for ``cls`` and could not read."""
    search = _Search(cls)
    search.reaches('forward', 0)
    return search.unread
