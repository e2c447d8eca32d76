"""A replay of PyTorch's CUDA caching allocator: what ``max_memory_allocated`` would report.

``torch.cuda.max_memory_allocated`` (mmengine's logged ``memory``) is the peak of the bytes in
*allocated blocks*, not of the bytes requested: every request is rounded up to 512 B, and a
cached free block that is larger than the request is handed out whole unless the rest is worth
splitting off (>= 512 B in the small pool, > 1 MiB in the large pool), so a 1.5 MiB request
served from a 2.4 MiB cached block counts 2.4 MiB. ``max_memory_reserved`` is the peak of the
segments obtained from ``cudaMalloc`` (2 MiB for requests <= 1 MiB, 20 MiB for requests < 10 MiB,
otherwise the request rounded up to 2 MiB), which are cached and never returned here.

:class:`CachingAllocator` follows ``c10/cuda/CUDACachingAllocator.cpp`` with its default
configuration (one stream, no ``expandable_segments``, no ``max_split_size_mb``, no
``roundup_power2_divisions``, no OOM retries: memory is unlimited): best fit (the smallest free
block that is large enough, lowest address on ties), splitting as above, and merging a freed
block with its free neighbours in the same segment.
"""
import bisect
from typing import Dict, List, Optional, Tuple

MIN_BLOCK = 512  # kMinBlockSize: every request is rounded up to a multiple
SMALL_SIZE = 1 << 20  # kSmallSize: requests up to 1 MiB use the small pool
SMALL_BUFFER = 2 << 20  # kSmallBuffer: segment size of the small pool
LARGE_BUFFER = 20 << 20  # kLargeBuffer: segment size for requests below 10 MiB
MIN_LARGE_ALLOC = 10 << 20  # kMinLargeAlloc
ROUND_LARGE = 2 << 20  # kRoundLarge: larger requests get a segment rounded up to 2 MiB


def round_size(nbytes: int) -> int:
    """The block size a request of ``nbytes`` asks for (``round_size``)."""
    return MIN_BLOCK if nbytes < MIN_BLOCK else MIN_BLOCK * -(-nbytes // MIN_BLOCK)


def segment_size(size: int) -> int:
    """The ``cudaMalloc`` size for a (rounded) request that no cached block can serve."""
    if size <= SMALL_SIZE:
        return SMALL_BUFFER
    if size < MIN_LARGE_ALLOC:
        return LARGE_BUFFER
    return ROUND_LARGE * -(-size // ROUND_LARGE)


class _Block:
    __slots__ = ('addr', 'size', 'small', 'free', 'prev', 'next')

    def __init__(self, addr: int, size: int, small: bool):
        self.addr, self.size, self.small, self.free = addr, size, small, True
        self.prev: Optional['_Block'] = None
        self.next: Optional['_Block'] = None


class CachingAllocator:
    """Allocated / reserved bytes (current and peak) of a sequence of mallocs and frees."""

    def __init__(self):
        self._pools: Dict[bool, List[Tuple[int, int]]] = {True: [], False: []}  # (size, addr)
        self._free_at: Dict[int, _Block] = {}  # addr -> free block
        self._handles: Dict[int, _Block] = {}  # handle -> allocated block
        self._next_addr = 0
        self.allocated = self.reserved = 0
        self.peak_allocated = self.peak_reserved = 0

    def reset_peak(self) -> None:
        """``torch.cuda.reset_peak_memory_stats``: peaks restart from the current values."""
        self.peak_allocated, self.peak_reserved = self.allocated, self.reserved

    def malloc(self, handle: int, nbytes: int) -> None:
        size = round_size(nbytes)
        small = size <= SMALL_SIZE
        block = self._take_free(size, small) or self._new_segment(size, small)
        remaining = block.size - size
        if remaining >= MIN_BLOCK if small else remaining > SMALL_SIZE:
            rest = _Block(block.addr + size, remaining, small)
            rest.prev, rest.next = block, block.next
            if block.next is not None:
                block.next.prev = rest
            block.next, block.size = rest, size
            self._put_free(rest)
        block.free = False
        self._handles[handle] = block
        self.allocated += block.size
        self.peak_allocated = max(self.peak_allocated, self.allocated)

    def free(self, handle: int) -> None:
        block = self._handles.pop(handle)
        self.allocated -= block.size
        block.free = True
        for neighbour in (block.prev, block.next):
            if neighbour is not None and neighbour.free:
                self._remove_free(neighbour)
                if neighbour is block.prev:
                    neighbour.size += block.size
                    neighbour.next = block.next
                    if block.next is not None:
                        block.next.prev = neighbour
                    block = neighbour
                else:
                    block.size += neighbour.size
                    block.next = neighbour.next
                    if neighbour.next is not None:
                        neighbour.next.prev = block
        self._put_free(block)

    def _new_segment(self, size: int, small: bool) -> _Block:
        nbytes = segment_size(size)
        block = _Block(self._next_addr, nbytes, small)
        self._next_addr += nbytes
        self.reserved += nbytes
        self.peak_reserved = max(self.peak_reserved, self.reserved)
        return block

    def _take_free(self, size: int, small: bool) -> Optional[_Block]:
        pool = self._pools[small]
        i = bisect.bisect_left(pool, (size, -1))
        if i == len(pool):
            return None
        _, addr = pool.pop(i)
        return self._free_at.pop(addr)

    def _put_free(self, block: _Block) -> None:
        bisect.insort(self._pools[block.small], (block.size, block.addr))
        self._free_at[block.addr] = block

    def _remove_free(self, block: _Block) -> None:
        pool = self._pools[block.small]
        del pool[bisect.bisect_left(pool, (block.size, block.addr))]
        del self._free_at[block.addr]
