"""What kind of file a checkpoint is, decided before torch reads it.

``torch.load`` picks its reader from the file's bytes, whatever ``weights_only`` or
``pickle_module`` say:

* a zip holding ``constants.pkl`` is a TorchScript archive: torch < 2.6 hands it to
  ``torch.jit.load``, which runs the code inside it;
* a tar is torch's checkpoint format before 0.4: torch extracts members into a temporary
  folder and reads them back (a member can be a link to any file on the machine);
* any other non-zip file is the pickle stream torch wrote before 1.6.

:func:`checkpoint_format` reads the zip directory twice, with torch's own reader (what
``torch.load`` will read) and with Python's ``zipfile`` (what other tools inspect), and
:func:`check_checkpoint_format` lets through only what an mmengine checkpoint can be: a zip
with exactly one ``data.pkl`` that both readers see alike, or the pre-1.6 pickle stream (whose
pickles then go through the same allowlist). Everything else is an :class:`UnsafeCheckpointError`.
"""
import tarfile
import zipfile
from typing import BinaryIO, Optional, Tuple

import torch

from ..checks import InputError

ZIP, PICKLE, TORCHSCRIPT, TAR = 'zip', 'pickle', 'TorchScript', 'tar'
_ZIP_MAGIC = b'PK\x03\x04'  # what torch.serialization._is_zipfile tests
TRUST_HINT = 'If you trust the file, pass --unsafe-load'


class UnsafeCheckpointError(InputError):
    """A checkpoint is not what an mmengine checkpoint can be, or needs types outside the
    allowlist to load."""


def refusal(path: str, reason: str, hint: str = TRUST_HINT) -> UnsafeCheckpointError:
    """The one-line refusal every loader prints: ``refusing to load PATH: REASON. HINT``."""
    return UnsafeCheckpointError(f'refusing to load {path}: {reason}. {hint}')


def _is_torchscript(records) -> bool:
    torchs_test = getattr(torch.serialization, '_is_torchscript_zip', None)
    if torchs_test is not None and torchs_test(_Records(records)):
        return True
    return 'constants.pkl' in records or any(r.startswith('code/') for r in records)


class _Records:
    """What ``torch.serialization._is_torchscript_zip`` asks of a zip reader."""

    def __init__(self, records):
        self._records = list(records)

    def get_all_records(self):
        return self._records


def _python_records(f: BinaryIO) -> Tuple[Optional[list], Optional[str]]:
    """Record names without the archive folder as Python's zipfile reads them, or a problem."""
    f.seek(0)
    try:
        with zipfile.ZipFile(f) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        return None, f"Python's zipfile cannot read its directory ({err})"
    return [name.split('/', 1)[-1] for name in names], None


def _zip_format(f: BinaryIO) -> Tuple[str, Optional[str]]:
    f.seek(0)
    records = list(torch._C.PyTorchFileReader(f).get_all_records())  # torch.load's reader:
    # a truncated or corrupt zip raises here what torch.load would raise
    if _is_torchscript(records):
        return TORCHSCRIPT, None
    names, problem = _python_records(f)
    if problem:
        return ZIP, problem
    pickles = names.count('data.pkl')
    if pickles != 1:
        return ZIP, (f'its zip holds {pickles} data.pkl records, where a checkpoint has one '
                     '(torch reads the first, Python\'s zipfile the last)')
    if sorted(names) != sorted(records) or len(set(names)) != len(names):
        return ZIP, ("its zip has duplicate or hidden records, which torch's reader and "
                     "Python's zipfile read differently")
    return ZIP, None


def _is_tar(f: BinaryIO) -> bool:
    """Whether torch's legacy loader would open ``f`` as a tar (its own test, repeated)."""
    f.seek(0)
    try:
        with tarfile.open(fileobj=f, mode='r:', format=tarfile.PAX_FORMAT):
            return True
    except tarfile.TarError:
        return False


def checkpoint_format(f: BinaryIO) -> Tuple[str, Optional[str]]:
    """``(kind, problem)`` of an open checkpoint file: kind is :data:`ZIP`,
    :data:`TORCHSCRIPT`, :data:`TAR` or :data:`PICKLE` (in torch.load's order of tests);
    problem, a few words, when a zip is not one torch.save writes. Leaves ``f`` at 0."""
    try:
        f.seek(0)
        if f.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC:
            return _zip_format(f)
        return (TAR if _is_tar(f) else PICKLE), None
    finally:
        f.seek(0)


def check_checkpoint_format(f: BinaryIO, path: str) -> str:
    """The kind of ``f`` (:data:`ZIP` or :data:`PICKLE`), or an :class:`UnsafeCheckpointError`
    for a TorchScript archive, a tar or an ambiguous zip."""
    kind, problem = checkpoint_format(f)
    if kind == TORCHSCRIPT:
        raise refusal(path, 'it is a TorchScript archive (torch.jit.save), not an mmengine '
                      'checkpoint, and reading it runs the code it holds',
                      'If you trust the file, pass --unsafe-load (its weights load as the '
                      'state_dict) or torch.jit.load it yourself')
    if kind == TAR:
        raise refusal(path, "it is a tar archive, torch's checkpoint format before 0.4, whose "
                      'members torch unpacks into a temporary folder and reads back (a member '
                      'can link to any file)')
    if problem:
        raise refusal(path, f'{problem}: torch would load other data than tools inspect')
    return kind
