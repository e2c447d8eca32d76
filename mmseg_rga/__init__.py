"""mmseg_rga: Relation-Aware Global Attention (RGA, CVPR 2020) for MMSegmentation 1.x.

``custom_imports=dict(imports=['mmseg_rga'], allow_failed_imports=False)`` in a config registers
every module of this package into mmseg's registries (``MODELS``: RGABlock, RGANeck, the RGA
decode heads; ``TRANSFORMS``: CheckSegLabelRange; ``HOOKS``: AtomicCheckpointHook; the
``'atomic_local'`` file backend).

Its one effect outside those registries: it registers the allowlist of mmengine checkpoints
(:data:`~mmseg_rga.engine.safe_load.SAFE_GLOBALS`: numpy arrays, dtypes and scalars, mmengine's
``HistoryBuffer``) with ``torch.serialization.add_safe_globals``, so that every weights-only
``torch.load`` of the process, mmseg's own ``tools/test.py``, ``init_model`` and
``MMSegInferencer`` included, loads honest mmengine checkpoints and still refuses any other type.
The reference code of the tests (:mod:`mmseg_rga.testing`) is not imported.
"""
from . import engine  # noqa: F401
from .datasets import transforms  # noqa: F401
from .engine.safe_load import register_safe_globals
from .models import *  # noqa: F401,F403
from .version import __version__  # noqa: F401

register_safe_globals()
