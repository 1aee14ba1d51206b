"""Matrix products: checks here, the OpenMP-blocked BLAS calls in ``csrc/gemm.pyx``."""
import numpy as np

from nnkit import threads as _threads
from nnkit._ext import gemm as _ext

from ..reference.gemm import check_batched_matmul, check_matmul

__all__ = ["matmul", "batched_matmul"]

# Below this many multiply-adds a parallel region costs more than it saves.
_MIN_PARALLEL_MACS = 1 << 18


def matmul(a, b, trans_a=False, trans_b=False, out=None):
    """``op(a) @ op(b)``, op = transpose where asked; added into ``out`` when given."""
    a, b, m, k, n = check_matmul(a, b, trans_a, trans_b, out)
    accumulate = out is not None
    if out is None:
        out = np.empty((m, n), dtype=a.dtype)
    nthreads = _threads.team() if m * n * k >= _MIN_PARALLEL_MACS else 1
    _ext.matmul(a, b, out, trans_a, trans_b, accumulate, nthreads)
    return out


def batched_matmul(a, b, trans_a=False, trans_b=False, out=None):
    """``op(a[g]) @ op(b[g])`` for every g of (G, ., .) stacks; added into ``out`` when given."""
    a, b, g, m, k, n = check_batched_matmul(a, b, trans_a, trans_b, out)
    accumulate = out is not None
    if out is None:
        out = np.empty((g, m, n), dtype=a.dtype)
    nthreads = _threads.team() if g * m * n * k >= _MIN_PARALLEL_MACS else 1
    _ext.batched_matmul(a, b, out, trans_a, trans_b, accumulate, nthreads)
    return out
