"""Make mmengine 0.10.x checkpoints loadable under torch >= 2.6.

torch 2.6 changed the default of ``torch.load`` to ``weights_only=True``. mmengine 0.10.7 calls
``torch.load(filename, map_location=...)`` without ``weights_only``, and its checkpoints carry a
``message_hub`` full of ``HistoryBuffer`` objects holding numpy arrays and numpy scalars, so
``--resume`` and ``tools/test.py CONFIG CKPT`` die with ``UnpicklingError: Weights only load
failed``.

Two fixes exist:

* ``torch.serialization.add_safe_globals([...])`` — an allow-list. It has to name every class any
  hook may have stored (``HistoryBuffer``, ``numpy._core.multiarray._reconstruct`` *or*
  ``numpy.core.multiarray._reconstruct`` depending on the numpy that *wrote* the file,
  ``numpy.dtype`` and every ``numpy.dtypes.*DType`` in use, ``numpy._core.multiarray.scalar``,
  plus whatever a custom hook or a third-party pretrained checkpoint put in ``meta``). It breaks
  again with the next numpy/mmengine/hook change.
* ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` — torch's own switch that restores the pre-2.6 default
  for calls that do *not* pass ``weights_only``. torch reads it at every ``torch.load`` call, so
  setting it any time before the runner loads a checkpoint is enough; calls that explicitly ask
  for ``weights_only=True`` stay safe.

We use the second one (robust across numpy 1/2, every mmengine loader: local, http, open-mmlab://,
resume and load_from). The usual caveat of pickle applies: only load checkpoints you trust.
"""
import os
import warnings

_ENV = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'
_ENV_FORCE_SAFE = 'TORCH_FORCE_WEIGHTS_ONLY_LOAD'


def enable_full_checkpoint_loading() -> bool:
    """Let ``torch.load`` unpickle full mmengine checkpoints (``weights_only=False`` default).

    Idempotent. Respects the user: if either ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` or
    ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` is already set, nothing is changed (torch refuses to run with
    both set). Child processes (dataloader workers, torchrun ranks) inherit the variable.

    Returns:
        bool: whether full (non weights-only) loading is in effect for calls without
        ``weights_only``.
    """
    if _ENV_FORCE_SAFE in os.environ:
        return False
    os.environ.setdefault(_ENV, '1')
    # torch warns on every torch.load that the variable changed the default; once is enough
    # (this module's docstring and the tools' help say it).
    warnings.filterwarnings(
        'ignore', message=f'Environment variable {_ENV} detected', category=UserWarning)
    return os.environ[_ENV].lower() in ('1', 'y', 'yes', 'true')
