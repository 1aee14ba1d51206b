"""Matrix products: checks here, the OpenMP-blocked BLAS calls in ``csrc/gemm.pyx``."""
import numpy as np

from nnkit import threads as _threads
from nnkit._ext import gemm as _ext

from ..reference import gemm as _reference
from ..reference.gemm import check_batched_matmul, check_matmul
from ..twin import twin_of

__all__ = ["matmul", "batched_matmul"]

# Below this many multiply-adds a parallel region costs more than it saves.
_MIN_PARALLEL_MACS = 1 << 18


@twin_of(_reference.matmul)
def matmul(a, b, trans_a=False, trans_b=False, out=None):
    a, b, m, k, n = check_matmul(a, b, trans_a, trans_b, out)
    accumulate = out is not None
    if out is None:
        out = np.empty((m, n), dtype=a.dtype)
    nthreads = _threads.team_above(m * n * k, _MIN_PARALLEL_MACS)
    _ext.matmul(a, b, out, trans_a, trans_b, accumulate, nthreads)
    return out


@twin_of(_reference.batched_matmul)
def batched_matmul(a, b, trans_a=False, trans_b=False, out=None):
    a, b, g, m, k, n = check_batched_matmul(a, b, trans_a, trans_b, out)
    accumulate = out is not None
    if out is None:
        out = np.empty((g, m, n), dtype=a.dtype)
    nthreads = _threads.team_above(g * m * n * k, _MIN_PARALLEL_MACS)
    _ext.batched_matmul(a, b, out, trans_a, trans_b, accumulate, nthreads)
    return out
