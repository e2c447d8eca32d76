"""Convert a state dict of the official re-id ``RGA_Module`` into :class:`RGABlock` keys.

The official module (microsoft/Relation-Aware-Global-Attention-Networks,
``reid/models/models_utils/rga_modules.py``) is ``RGA_Module(in_channel, in_spatial, use_spatial,
use_channel, cha_ratio, spa_ratio, down_ratio)``; it applies the spatial branch, then the channel
branch. Its weights load into ``RGABlock(in_channel, pooled_size=(h, w), order='SC',
ratio_channel=cha_ratio, ratio_spatial=spa_ratio, ratio_logit=down_ratio)`` with
h * w == in_spatial (use order 'S' or 'C' when the official module had only one branch)::

    official = torch.load('checkpoint.pth.tar')['state_dict']  # 'backbone.rga_att4.W_spatial...'
    block = RGABlock(2048, pooled_size=(16, 8), order='SC')    # rga_att4: 2048 channels, 128 nodes
    block.load_state_dict(convert_official_rga(official, prefix='backbone.rga_att4.'))

Both store the relation embedding as a (K, 2N, 1, 1) conv weight whose first N inputs act on the
row R(i, :) and the last N on the column R(:, i), so it is copied as is.
"""
from collections import OrderedDict
from typing import Dict, Mapping

from torch import Tensor

from ..checks import InputError

# official Sequential index -> our module path, per branch ('{b}' = spatial / channel)
_LAYERS = {
    'theta_{o}.0': '{b}.theta.conv', 'theta_{o}.1': '{b}.theta.bn',
    'phi_{o}.0': '{b}.phi.conv', 'phi_{o}.1': '{b}.phi.bn',
    'gx_{o}.0': '{b}.appearance.conv', 'gx_{o}.1': '{b}.appearance.bn',
    'gg_{o}.0': '{b}.relation', 'gg_{o}.1': '{b}.relation.bn',
    'W_{o}.0': '{b}.logit.0.conv', 'W_{o}.1': '{b}.logit.0.bn',
    'W_{o}.3': '{b}.logit.1.conv', 'W_{o}.4': '{b}.logit.1.bn',
}


def _key_map() -> Dict[str, str]:
    mapping = {}
    for official_branch in ('spatial', 'channel'):
        for src, dst in _LAYERS.items():
            mapping[src.format(o=official_branch)] = dst.format(b=official_branch)
    return mapping


def convert_official_rga(state_dict: Mapping[str, Tensor], prefix: str = '') -> 'OrderedDict':
    """Rename the official ``RGA_Module`` keys under ``prefix`` to :class:`RGABlock` keys.

    Args:
        state_dict: a state dict holding one official RGA module's tensors.
        prefix: the official module's prefix in ``state_dict`` (e.g. ``'backbone.rga_att4.'``).

    Returns:
        A state dict for ``RGABlock.load_state_dict`` (strict).

    Raises:
        ValueError: when no key under ``prefix`` is an official RGA key, or one is unknown.
    """
    mapping = _key_map()
    converted = OrderedDict()
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            continue
        layer, _, param = key[len(prefix):].rpartition('.')
        if layer not in mapping:
            raise InputError(f'{key!r} is not a key of the official RGA_Module (expected e.g. '
                             f'{prefix}theta_spatial.0.weight); check the prefix')
        converted[f'{mapping[layer]}.{param}'] = value
    if not converted:
        raise InputError(f'no official RGA_Module key starts with prefix {prefix!r}; got keys '
                         f'like {list(state_dict)[:3]}')
    return converted
