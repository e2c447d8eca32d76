"""Write ``mmengine_like_numpy<major>.pth`` beside this file: a small checkpoint shaped as
mmengine's Runner saves one (weights, meta, a message hub with a HistoryBuffer and numpy
values), pickled by the numpy that runs this script. Run it once per numpy major version::

    .venv/bin/python tests/data/write_numpy_checkpoint.py        # numpy 2 (main stack)
    .venv-floor/bin/python tests/data/write_numpy_checkpoint.py  # numpy 1 (floor stack)
"""
from pathlib import Path

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

buffer = HistoryBuffer()
buffer.update(np.float64(1.0))
checkpoint = dict(
    meta=dict(iter=2, epoch=0, seed=np.int64(0), numpy=np.__version__),
    state_dict={'w': torch.full((2, 2), 2.0)},
    message_hub=dict(log_scalars={'train/loss': buffer},
                     runtime_info={'iter': 2, 'arr': np.arange(3, dtype=np.int64)}))
path = Path(__file__).resolve().parent / f'mmengine_like_numpy{np.__version__.split(".")[0]}.pth'
torch.save(checkpoint, path)
print(f'wrote {path}')
