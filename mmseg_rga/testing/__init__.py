"""References for the tests and the benchmarks, apart from the plugin (as ``torch.testing``).

``import mmseg_rga`` (what ``custom_imports`` runs) never imports this package; the tests and
``tools/analysis_tools/benchmark_relation.py`` do.

* :class:`OfficialRGAModule`: a replica of the official re-id ``RGA_Module`` (``official_rga``);
* :func:`reference_relation_embedding`: the paper's relation embedding through the materialized
  R and its 2M-channel stack (``references``);
* :func:`reference_fixed_size_pool`: the whole-map RoIAlign of ``FixedSizePool`` from its
  definition, independent of mmcv;
* :func:`randomize_bn_stats`: non-trivial BatchNorm statistics for equivalence tests.
"""
from .official_rga import OfficialRGAModule
from .references import randomize_bn_stats, reference_fixed_size_pool, reference_relation_embedding

__all__ = ['OfficialRGAModule', 'randomize_bn_stats', 'reference_fixed_size_pool',
           'reference_relation_embedding']
