"""A checkpoint must fit the model it is loaded into: refused in one line, or loaded in part on
purpose, never evaluated with weights left at random.

mmengine loads checkpoints non-strictly: a weight of another shape or a missing one is left at
its initialization, with a warning per key. RGA makes that likely: the relation layers are sized
by the node grid (the spatial relation embedding has 2N inputs), so a ``pooled_size`` changed on
the command line drops every trained RGA weight. Here the checkpoint's ``state_dict`` is compared
with the model's before it is loaded (:func:`fit_checkpoint`):

* ``'test'`` (tools/test.py, visualize_attention.py, deployment/pytorch2onnx.py, the demo) and
  ``'resume'`` (``--resume``): any model weight (parameter or buffer) missing or of another
  shape, and any checkpoint weight the model does not have, is a :class:`CheckpointFitError`:
  one line naming the first keys with both shapes and, for an RGA block, the node grid each
  side was built for.
* ``'load_from'`` (fine-tuning, ``load_from`` without ``--resume``): loads what fits. An RGA
  block with any weight that does not fit keeps its whole initialization, with one line saying
  why; other weights that keep theirs (e.g. ``conv_seg`` for new classes) and checkpoint weights
  the model lacks get one line each.

Known harmless and never counted (:data:`HARMLESS`): BatchNorm's ``num_batches_tracked``, and in
``'test'`` the ``auxiliary_head`` weights (training only: ``predict`` never runs it). What is
loaded is the compared state, completed with the model's own values where it keeps them, so
mmengine has nothing left to warn about. ``--unsafe-load`` changes how a file is read, not this.
"""
import math
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional, Tuple

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import BaseTTAModel, is_model_wrapper

from mmseg_rga.checks import InputError
from mmseg_rga.models.rga import RGABlock

#: Keys that may be missing or extra: what they are, and when (``None``: always).
HARMLESS = {
    'num_batches_tracked': ("BatchNorm's step counter (read only with momentum=None)", None),
    'auxiliary_head.': ('the auxiliary head (a training loss; predict never runs it)', 'test'),
}
PURPOSES = ('test', 'resume', 'load_from')
SHOWN = 2  # keys named per kind of misfit


class CheckpointFitError(InputError):
    """A checkpoint leaves model weights missing or of another shape, or has weights it lacks."""


class Fit(NamedTuple):
    """How a checkpoint's state_dict meets a model's: keys, with (checkpoint, model) shapes."""
    mismatched: List[Tuple[str, tuple, tuple]]
    missing: List[str]
    unexpected: List[str]


def bare_model(model):
    """The model inside DDP-style wrappers and TTA models (what mmengine loads into)."""
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def _shape(value) -> tuple:
    return tuple(getattr(value, 'shape', ()))


def harmless(key: str, purpose: str) -> bool:
    return any((when is None or when == purpose) and (
        key.startswith(name) if name.endswith('.') else key.endswith(name))
        for name, (_, when) in HARMLESS.items())


def compare(own: Dict, state: Dict, purpose: str) -> Fit:
    """Compare the model's ``own`` state_dict with a checkpoint's ``state``."""
    mismatched, missing = [], []
    for key, value in own.items():
        if harmless(key, purpose):
            continue
        if key not in state:
            missing.append(key)
        elif _shape(state[key]) != _shape(value):
            mismatched.append((key, _shape(state[key]), _shape(value)))
    unexpected = [k for k in state if k not in own and not harmless(k, purpose)]
    return Fit(mismatched, missing, unexpected)


def trained_nodes(state: Dict, prefix: str) -> Optional[int]:
    """N of the RGA block at ``prefix`` in ``state``, from its weights (None: none pins it):
    the spatial relation embedding has 2N inputs, the channel branch's 1x1 convs N."""
    relation = state.get(f'{prefix}.spatial.relation.weight')
    if len(_shape(relation)) == 4:
        return _shape(relation)[1] // 2
    for name in ('theta', 'appearance'):
        conv = state.get(f'{prefix}.channel.{name}.conv.weight')
        if len(_shape(conv)) == 4:
            return _shape(conv)[1]
    return None


def _grid(nodes: int) -> Tuple[str, Tuple[int, int], bool]:
    """('16×16', (16, 16), True) for a square N; else N's most square h×w, flagged ambiguous."""
    side = math.isqrt(nodes)
    if side * side == nodes:
        return f'{side}×{side}', (side, side), True
    h = next(d for d in range(side, 0, -1) if nodes % d == 0)
    return f'{h}×{nodes // h}', (h, nodes // h), False


def grid_change(block: RGABlock, nodes: int) -> Tuple[str, str]:
    """('was trained with 16×16 nodes; this config builds 8×8', 'set rga_cfg.pooled_size=...').

    The weights fix N only: a square N is read as a square grid; any other N is named with
    one h×w that gives it."""
    h, w = block.pooled_size
    text, size, square = _grid(nodes)
    trained = (f'{text} nodes' if square
               else f'N={nodes} nodes (an h×w grid with h·w = {nodes}, e.g. {text})')
    fix = (f'set rga_cfg.pooled_size={size}' if square
           else f'set rga_cfg.pooled_size to such an (h, w), e.g. {size}')
    return f'was trained with {trained}; this config builds {h}×{w}', fix


def _rga_misfits(model, state: Dict, fit: Fit) -> Dict[str, Optional[Tuple[str, str]]]:
    """RGA blocks with a weight that does not fit -> :func:`grid_change` (None: the node grid
    is not what differs, or no weight pins the checkpoint's)."""
    bad = {k for k, _, _ in fit.mismatched} | set(fit.missing)
    found = {}
    for prefix, block in model.named_modules():
        if isinstance(block, RGABlock) and any(k.startswith(prefix + '.') for k in bad):
            nodes = trained_nodes(state, prefix)
            h, w = block.pooled_size
            found[prefix] = (grid_change(block, nodes)
                             if nodes is not None and nodes != h * w else None)
    return found


def _listed(keys: List[str], more: int) -> str:
    return ', '.join(keys) + (f', ... ({more} more)' if more > 0 else '')


def describe(fit: Fit) -> str:
    """The misfits in a few words: counts and the first :data:`SHOWN` keys of each kind."""
    parts = []
    if fit.mismatched:
        shown = [f'{k} is {c} in the checkpoint, {m} in the model'
                 for k, c, m in fit.mismatched[:SHOWN]]
        parts.append(f'{len(fit.mismatched)} weights of another shape '
                     f'({_listed(shown, len(fit.mismatched) - SHOWN)})')
    if fit.missing:
        parts.append(f'{len(fit.missing)} model weights missing from it '
                     f'({_listed(fit.missing[:SHOWN], len(fit.missing) - SHOWN)})')
    if fit.unexpected:
        parts.append(f'{len(fit.unexpected)} weights the model does not have '
                     f'({_listed(fit.unexpected[:SHOWN], len(fit.unexpected) - SHOWN)})')
    return '; '.join(parts)


def refusal(path: str, purpose: str, fit: Fit, blocks: Dict) -> CheckpointFitError:
    lead = (f'cannot resume from {path}: it does not fit the model of this config'
            if purpose == 'resume' else f'checkpoint {path} does not fit the model of this config')
    grids = [f'{prefix} {grid[0]}: {grid[1]}, or retrain' for prefix, grid in blocks.items()
             if grid]
    advice = '; '.join(grids) or ('resume with the config it was trained with'
                                  if purpose == 'resume' else 'use the config it was trained with')
    if purpose == 'resume':
        advice += ' (load_from fine-tunes from it at the new settings)'
    return CheckpointFitError(f'{lead}: {describe(fit)}; {advice}')


def _inside(key: str, prefixes) -> bool:
    return any(key.startswith(prefix + '.') for prefix in prefixes)


def notices(path: str, fit: Fit, blocks: Dict, state: Dict) -> List[str]:
    """The ``load_from`` lines: one per RGA block left at its initialization, one for other
    weights that keep theirs, one for checkpoint weights that are not loaded."""
    lines = []
    for prefix, grid in blocks.items():
        mine = Fit([m for m in fit.mismatched if _inside(m[0], [prefix])],
                   [k for k in fit.missing if _inside(k, [prefix])], [])
        if grid:
            why = f'it {grid[0]}'
        elif not any(_inside(k, [prefix]) for k in state):
            why = 'the checkpoint has no weights for it (trained without this block)'
        else:
            why = describe(mine)
        lines.append(f'load_from {path}: {prefix} keeps its initialization: {why}')
    rest = Fit([m for m in fit.mismatched if not _inside(m[0], blocks)],
               [k for k in fit.missing if not _inside(k, blocks)], [])
    if rest.mismatched or rest.missing:
        lines.append(f'load_from {path}: other weights keep their initialization: '
                     f'{describe(rest)}')
    if fit.unexpected:
        lines.append(f'load_from {path}: not loaded: {describe(Fit([], [], fit.unexpected))}')
    return lines


def fit_checkpoint(model, checkpoint: dict, purpose: str, path: Optional[str] = None,
                   logger='current') -> Fit:
    """Check ``checkpoint`` against ``model`` for ``purpose`` and make its ``state_dict`` the
    one to load (keys without ``module.``; the model's own values where it keeps them).

    Raises:
        CheckpointFitError: ``purpose`` is 'test' or 'resume' and the checkpoint does not fit.
    """
    if purpose not in PURPOSES:
        raise InputError(f'purpose must be one of {PURPOSES}; got {purpose!r}')
    path = path or 'the checkpoint'
    model = bare_model(model)
    raw = checkpoint.get('state_dict', checkpoint)
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                        for k, v in raw.items())
    own = model.state_dict()
    fit = compare(own, state, purpose)
    blocks = _rga_misfits(model, state, fit)
    if (fit.mismatched or fit.missing or fit.unexpected) and purpose != 'load_from':
        raise refusal(path, purpose, fit, blocks)
    for line in notices(path, fit, blocks, state):
        print_log(line, logger=logger)
    keep = {k for k, _, _ in fit.mismatched} | {k for k in own if _inside(k, blocks)}
    loaded = OrderedDict((k, own[k] if k in keep or k not in state else state[k]) for k in own)
    loaded._metadata = getattr(raw, '_metadata', OrderedDict())
    if 'state_dict' in checkpoint:
        checkpoint['state_dict'] = loaded
    else:  # a bare state_dict
        checkpoint.clear()
        checkpoint.update(loaded)
    return fit


class CheckpointFitHook(Hook):
    """Runs :func:`fit_checkpoint` on every checkpoint the Runner loads (``after_load_checkpoint``
    comes before mmengine loads it into the model): 'test' in tools/test.py; in tools/train.py
    'resume' with ``--resume``, else 'load_from'."""

    priority = 'VERY_LOW'  # after hooks that rewrite the checkpoint (e.g. EMA)

    def __init__(self, mode: str):
        self.mode = mode

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        purpose = 'test' if self.mode == 'test' else ('resume' if runner._resume else 'load_from')
        fit_checkpoint(runner.model, checkpoint, purpose, runner._load_from, runner.logger)
