"""How every tool ends on an error: one exception type, one ``main()`` wrapper.

* Expected problems -- a missing config or checkpoint, an unknown ``type`` in a registry, an
  unknown ``rga_cfg`` key, a bad argument value, a dataset layout or label problem, an unsafe
  checkpoint -- print ``error: <one line>`` on stderr and exit 1. They are :class:`ToolError`
  (raised by the tools), :class:`~mmseg_rga.checks.InputError` (raised by the plugin; ToolError
  is one), a ``pickle.UnpicklingError`` from a checkpoint, a ``KeyError`` raised by mmengine's
  registry (a ``type`` it does not know) and a ``TypeError`` for a keyword argument a class
  does not take (or a required one left out).
* Anything else is a bug (in the plugin, in mmseg or in a user's own module). It prints one line
  naming the exception and the file and line where it was raised, writes the full traceback to a
  file (in the work dir when the tool has one, see :func:`set_traceback_dir`) and exits 1.
  ``--debug`` (every tool takes it, :func:`add_debug_argument`) prints the traceback instead.

A tool is::

    def main(argv=None): ...          # raises ToolError for what the user can fix

    if __name__ == '__main__':
        run_main(main)
"""
import difflib
import glob
import os
import os.path as osp
import pickle
import re
import sys
import tempfile
import time
import traceback
from typing import Callable, List, Optional

from mmseg_rga.checks import InputError

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEBUG_FLAG = '--debug'
_REGISTRY_DIR = osp.join('mmengine', 'registry')
_BAD_ARGUMENTS = re.compile(r'unexpected keyword argument|missing \d+ required \w+ argument')
_traceback_dir: Optional[str] = None


class ToolError(InputError):
    """A problem the user can fix (the message says what was expected): ``error: ...``, exit 1."""


def add_debug_argument(parser) -> None:
    """``--debug`` (read by :func:`run_main`): print the full traceback of a bug."""
    parser.add_argument(DEBUG_FLAG, action='store_true',
                        help='on an unexpected error, print the full traceback (otherwise one '
                        'line names it and the file the traceback was written to)')


def set_traceback_dir(path: Optional[str]) -> None:
    """Where :func:`run_main` writes the traceback of a bug (a tool's work dir)."""
    global _traceback_dir
    _traceback_dir = path


def nearest_config(path: str, root: str = REPO_ROOT) -> Optional[str]:
    """The config under ``root/configs`` whose path is closest to ``path`` (or None)."""
    configs = sorted(osp.relpath(p, root) for p in glob.glob(
        osp.join(root, 'configs', '**', '*.py'), recursive=True))
    by_name = {}
    for rel in configs:
        by_name.setdefault(osp.basename(rel), rel)
    match = difflib.get_close_matches(osp.basename(path), list(by_name), n=1, cutoff=0.0)
    return by_name[match[0]] if match else None


def missing_config_message(path: str, root: str = REPO_ROOT) -> str:
    near = nearest_config(path, root)
    hint = f'; the nearest config under configs/ is {near}' if near else ''
    return f'config file {path} does not exist{hint}'


def one_line(err: BaseException) -> str:
    """The error's message on one line (a KeyError's without the quotes str() adds)."""
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return ' '.join(text.split()) or type(err).__name__


def raised_at(err: BaseException):
    """The innermost traceback entry of ``err`` (the frame that raised it), or None."""
    entries = traceback.extract_tb(err.__traceback__)
    return entries[-1] if entries else None


def is_expected(err: BaseException) -> bool:
    """Whether ``err`` is a problem with the user's input rather than a bug (see the module)."""
    if isinstance(err, (InputError, pickle.UnpicklingError)):
        return True
    if isinstance(err, TypeError) and _BAD_ARGUMENTS.search(str(err)):
        return True  # a config passed an argument the class does not take (or left one out)
    if isinstance(err, KeyError):  # a `type` the registry does not know
        where = raised_at(err)
        return where is not None and _REGISTRY_DIR in where.filename
    return False


def write_traceback(err: BaseException, directory: Optional[str] = None) -> Optional[str]:
    """Write the formatted traceback of ``err`` to a new file; its path, or None if unwritable."""
    directory = directory or _traceback_dir or osp.join(tempfile.gettempdir(), 'mmseg_rga')
    name = f'traceback_{time.strftime("%Y%m%d_%H%M%S")}_{os.getpid()}.txt'
    try:
        os.makedirs(directory, exist_ok=True)
        path = osp.join(directory, name)
        with open(path, 'w') as f:
            f.write(''.join(traceback.format_exception(type(err), err, err.__traceback__)))
    except OSError:
        return None
    return path


def expected_line(err: BaseException) -> str:
    """The one line of an expected problem; a missing ``RGA<Name>Head`` also names the heads
    that are registered (and why this one is not, when it is left out on purpose)."""
    from mmseg_rga.models.heads import explain_missing_rga_type  # imports mmseg: only now
    return explain_missing_rga_type(one_line(err))


def bug_line(err: BaseException, traceback_path: Optional[str]) -> str:
    """``<Type>: <message> (raised at <file>:<line> in <function>); full traceback in <path>``."""
    where = raised_at(err)
    at = f' (raised at {where.filename}:{where.lineno} in {where.name})' if where else ''
    saved = (f'; full traceback in {traceback_path}' if traceback_path
             else '; the traceback could not be written')
    return (f'{type(err).__name__}: {one_line(err)}{at}{saved}; rerun with {DEBUG_FLAG} to '
            'print it')


def run_main(main: Callable[[Optional[List[str]]], object],
             argv: Optional[List[str]] = None) -> None:
    """Run a tool's ``main(argv)`` and exit: 0 on success (or ``main``'s int), 1 on an error.

    See the module docstring for what is printed; ``--debug`` in ``argv`` re-raises bugs.
    """
    argv = sys.argv[1:] if argv is None else argv
    try:
        result = main(argv)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # noqa: B902  (one place decides what the user sees)
        if not is_expected(err) and DEBUG_FLAG in argv:
            raise
        message = (expected_line(err) if is_expected(err)
                   else bug_line(err, write_traceback(err)))
        sys.exit(f'error: {message}')  # on stderr, exit status 1
    sys.exit(result if isinstance(result, int) else 0)
