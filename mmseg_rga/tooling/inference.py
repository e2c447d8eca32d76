"""Load a trained segmentor for the tools that draw with it (visualize_attention, demo)."""
from typing import Optional


def load_model(config: str, checkpoint: Optional[str], device: str = 'cpu', slide: bool = False,
               cfg_options: Optional[dict] = None, unsafe_load: bool = False):
    """``mmseg.apis.init_model`` in whole-image mode (unless ``slide``), SyncBN -> BN off-GPU.

    The checkpoint loads weights-only with the allowlist of mmengine checkpoints unless
    ``unsafe_load`` (see :mod:`mmseg_rga.engine.safe_load`). Whole-image inference lets every
    RGA block see the image once; a sliding window would leave only the last window's gates.
    """
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmseg.apis import init_model

    from mmseg_rga.engine import checkpoint_loading

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if not slide:
        cfg.model.test_cfg = dict(mode='whole')
    with checkpoint_loading(unsafe=unsafe_load):
        model = init_model(cfg, checkpoint, device='cpu')
    if not str(device).startswith('cuda'):
        model = revert_sync_batchnorm(model)
    return model.to(device).eval()
