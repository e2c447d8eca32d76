"""Load a trained segmentor for the tools that draw with it (visualize_attention, demo, export)."""
from typing import Optional


def classes_and_palette(num_classes: int) -> dict:
    """Classes and palette of the first mmseg dataset with ``num_classes`` (else Cityscapes')."""
    from mmseg.utils import dataset_aliases, get_classes, get_palette

    name = next((n for n in dataset_aliases if len(get_classes(n)) == num_classes), 'cityscapes')
    return dict(classes=get_classes(name), palette=get_palette(name))


def _dataset_meta(model, meta: dict) -> dict:
    """``init_model``'s dataset_meta: the checkpoint's, else mmseg's classes for the class count."""
    if 'dataset_meta' in meta:
        return meta['dataset_meta']
    if 'CLASSES' in meta:  # written by mmseg 0.x
        return dict(classes=meta['CLASSES'], palette=meta['PALETTE'])
    return classes_and_palette(model.decode_head.num_classes)


def load_model(config: str, checkpoint: Optional[str], device: str = 'cpu', slide: bool = False,
               cfg_options: Optional[dict] = None, unsafe_load: bool = False):
    """``mmseg.apis.init_model`` in whole-image mode (unless ``slide``), SyncBN -> BN off-GPU.

    The checkpoint loads by the rules of :mod:`mmseg_rga.engine.safe_load` (its format, then
    the allowlist of mmengine checkpoints) unless ``unsafe_load``, and must fit the model
    (:mod:`.checkpoint_fit`, purpose 'test': a misfit is refused in one line). Whole-image
    inference lets every RGA block see the image once; a sliding window would leave only the
    last window's gates.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
    from mmseg.apis import init_model

    from mmseg_rga.engine import checkpoint_loading

    from .checkpoint_fit import fit_checkpoint

    options = dict(cfg_options or {})
    if not slide:
        options['model.test_cfg'] = dict(mode='whole', _delete_=True)
    model = init_model(config, None, device=device, cfg_options=options)
    if checkpoint is not None:
        with checkpoint_loading(unsafe=unsafe_load):
            loaded = _load_checkpoint(checkpoint, map_location='cpu')
        fit_checkpoint(model, loaded, 'test', checkpoint)
        _load_checkpoint_to_model(model, loaded, strict=True)
        model.dataset_meta = _dataset_meta(model, loaded.get('meta', {}))
    if not str(device).startswith('cuda'):
        model = revert_sync_batchnorm(model)
    return model.eval()
