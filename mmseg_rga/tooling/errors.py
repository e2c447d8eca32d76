"""Config mistakes as one line on stderr (``error: ...``, exit 1) instead of a traceback.

* :func:`missing_config_message`: a config path that does not exist, with the nearest config
  under the repo's ``configs/`` (by name, ``difflib``);
* :func:`one_line_errors`: ``ValueError``/``KeyError``/``TypeError`` raised while the config is
  loaded or the Runner (model, hooks, ...) is built: a wrong ``type`` (mmengine names the
  registry), an unknown ``rga_cfg``/``RGANeck`` key, a bad argument value. The library raises
  them as usual; only the tools shorten them.
"""
import contextlib
import difflib
import glob
import os.path as osp
import sys
from typing import Iterator, Optional, Tuple, Type

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_ERRORS: Tuple[Type[BaseException], ...] = (ValueError, KeyError, TypeError)


def nearest_config(path: str, root: str = REPO_ROOT) -> Optional[str]:
    """The config under ``root/configs`` whose path is closest to ``path`` (or None)."""
    configs = sorted(osp.relpath(p, root) for p in glob.glob(
        osp.join(root, 'configs', '**', '*.py'), recursive=True))
    if not configs:
        return None
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


def exit_with(message: str) -> None:
    sys.exit(f'error: {message}')


@contextlib.contextmanager
def one_line_errors(*kinds: Type[BaseException]) -> Iterator[None]:
    """Turn ``kinds`` (default :data:`CONFIG_ERRORS`) raised in the block into ``error: <msg>``
    on stderr and exit status 1."""
    try:
        yield
    except (kinds or CONFIG_ERRORS) as err:
        exit_with(one_line(err))
