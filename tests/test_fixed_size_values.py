"""FixedSizePool values at the geometries users hit, against a reference written from the
definition (``mmseg_rga.testing.reference_fixed_size_pool``) and, where the bins land on pixels,
against an exact box filter. Constant maps stay constant everywhere, borders included."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_rga.models import FixedSizePool
from mmseg_rga.testing import reference_fixed_size_pool

GEOMETRIES = [  # (H, W), (h, w), align_corners
    ((97, 97), (33, 33), True),     # 769 crop at OS 8 -> the configs' nodes
    ((129, 257), (33, 33), True),   # whole 1024x2048 Cityscapes image
    ((96, 96), (32, 32), False),
    ((40, 25), (5, 5), False),
    ((3, 4), (5, 5), False),        # smaller than the node grid
    ((3, 4), (5, 5), True),
    ((9, 17), (5, 9), True),
    ((1, 7), (3, 3), True),         # a one-pixel axis
]


def _map(size, channels=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, channels, *size, generator=gen)


@pytest.mark.parametrize('size,pooled,align_corners', GEOMETRIES)
def test_matches_the_definition(size, pooled, align_corners):
    x = _map(size)
    out = FixedSizePool(pooled, align_corners).pool(x)
    assert out.shape == (2, 3, *pooled) and out.dtype == x.dtype
    ref = reference_fixed_size_pool(x, pooled, align_corners)
    torch.testing.assert_close(out.double(), ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize('size,pooled,align_corners', GEOMETRIES)
def test_constants_stay_constant_everywhere(size, pooled, align_corners):
    x = torch.full((1, 2, *size), 3.0)
    out = FixedSizePool(pooled, align_corners).pool(x)
    torch.testing.assert_close(out, torch.full((1, 2, *pooled), 3.0), rtol=0, atol=1e-5)


def test_bins_on_pixels_are_box_filters():
    """96 -> 32 (False): node k averages pixels 3k..3k+2; 97 -> 33 (True): pixels 3k-1..3k+1,
    the border bins replicating the edge pixel."""
    x = _map((96, 96))
    torch.testing.assert_close(FixedSizePool(32, False).pool(x), F.avg_pool2d(x, 3),
                               rtol=0, atol=1e-5)
    x = _map((97, 97))
    padded = F.pad(x, (1, 1, 1, 1), mode='replicate')
    torch.testing.assert_close(FixedSizePool(33, True).pool(x), F.avg_pool2d(padded, 3),
                               rtol=0, atol=1e-5)


def test_reference_is_not_trivially_the_pool():
    """The reference tells the two geometries apart (so the checks above are not vacuous)."""
    x = _map((40, 25))
    assert (reference_fixed_size_pool(x, (5, 5), True)
            - reference_fixed_size_pool(x, (5, 5), False)).abs().max() > 0.1
