"""mmseg_rga: Relation-Aware Global Attention (RGA, CVPR 2020) for MMSegmentation 1.x.

``custom_imports=dict(imports=['mmseg_rga'], allow_failed_imports=False)`` in a config registers
every module of this package into mmseg's registries (``MODELS``: RGABlock, RGANeck, the RGA
decode heads; ``TRANSFORMS``: CheckSegLabelRange; ``HOOKS``: AtomicCheckpointHook; the
``'atomic_local'`` file backend).
"""
from . import engine  # noqa: F401
from .datasets import transforms  # noqa: F401
from .models import *  # noqa: F401,F403
from .version import __version__  # noqa: F401
