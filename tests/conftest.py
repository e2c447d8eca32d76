"""Fixtures shared by test files."""
import pytest
import torch


@pytest.fixture(scope='module')
def one_thread():
    """Tiny tensors: threads only add contention on a shared CPU (``usefixtures`` per module)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
