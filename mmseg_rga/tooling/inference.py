"""Load a trained segmentor for the tools that draw with it (visualize_attention, demo, export)."""
from typing import Optional


def load_model(config: str, checkpoint: Optional[str], device: str = 'cpu', slide: bool = False,
               cfg_options: Optional[dict] = None, unsafe_load: bool = False):
    """``mmseg.apis.init_model`` in whole-image mode (unless ``slide``), SyncBN -> BN off-GPU.

    The checkpoint loads weights-only with the allowlist of mmengine checkpoints unless
    ``unsafe_load`` (see :mod:`mmseg_rga.engine.safe_load`). Whole-image inference lets every
    RGA block see the image once; a sliding window would leave only the last window's gates.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmseg.apis import init_model

    from mmseg_rga.engine import checkpoint_loading

    options = dict(cfg_options or {})
    if not slide:
        options['model.test_cfg'] = dict(mode='whole', _delete_=True)
    with checkpoint_loading(unsafe=unsafe_load):
        model = init_model(config, checkpoint, device=device, cfg_options=options)
    if not str(device).startswith('cuda'):
        model = revert_sync_batchnorm(model)
    return model.eval()
