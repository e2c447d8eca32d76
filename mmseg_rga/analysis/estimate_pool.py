"""Memory estimates computed in worker processes while the GPU works.

One estimate of an R-101 Table-6 config (:func:`estimate`, estimate_memory.py's library
function on fake tensors) takes several seconds of one CPU core, longer than the GPU case it
belongs to, and ``tools/analysis_tools/gpu_check.py`` wants 38 of them. :class:`EstimatePool`
takes them in the order the cases will ask for them and works through that list in ``workers``
spawned processes (no GPU visible to them: fake tensors run on the CPU), so that most estimates
are ready when their case asks. :meth:`EstimatePool.close` ends the workers at once.
"""
import multiprocessing
import os
from typing import Hashable, List, Optional, Sequence, Tuple

#: (config file, mode: 'train' / 'whole' / 'slide', amp, batch size, (height, width))
Key = Tuple[str, str, bool, int, Tuple[int, int]]


def estimate(config: str, mode: str, amp: bool, batch: int, shape: Sequence[int]) -> int:
    """estimate_memory.py's peak of one ``mode`` iteration of ``config`` on one GPU, bytes."""
    from mmengine.config import Config

    from mmseg_rga.analysis.segmentor_memory import estimate_config
    return estimate_config(Config.fromfile(config), mode=mode, amp=amp, batch_size=batch,
                           shape=tuple(shape)).peak


def _one_thread() -> None:
    import torch
    torch.set_num_threads(1)


class EstimatePool:
    """:func:`estimate` of every key, computed in ``workers`` processes in the order given."""

    def __init__(self, keys: List[Key], workers: int):
        self._keys = list(dict.fromkeys(keys))
        self._pool, self._results = None, {}
        if not self._keys:
            return
        saved = os.environ.get('CUDA_VISIBLE_DEVICES')
        os.environ['CUDA_VISIBLE_DEVICES'] = ''  # the workers inherit it when they start
        try:
            self._pool = multiprocessing.get_context('spawn').Pool(
                max(1, min(workers, len(self._keys))), initializer=_one_thread)
        finally:
            if saved is None:
                del os.environ['CUDA_VISIBLE_DEVICES']
            else:
                os.environ['CUDA_VISIBLE_DEVICES'] = saved
        self._results = {key: self._pool.apply_async(estimate, key) for key in self._keys}

    def get(self, key: Hashable, timeout: Optional[float] = None) -> int:
        """The estimate of ``key``, waiting at most ``timeout`` seconds (None: until done).

        Raises ``multiprocessing.TimeoutError`` when it is not ready in time, and the worker's
        exception when the estimate failed.
        """
        return self._results[key].get(timeout)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
