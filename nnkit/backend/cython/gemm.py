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


# The kernel for each dtype, called directly: Cython's choice among a fused function's versions costs a
# microsecond or two per call, which a small layer's GEMM notices.
_KERNELS = {np.dtype(np.float32): _ext.matmul.__signatures__["float"],
            np.dtype(np.float64): _ext.matmul.__signatures__["double"]}


def _matrix(a):
    return type(a) is np.ndarray and a.ndim == 2 and a.flags.c_contiguous


@twin_of(_reference.matmul)
def matmul(a, b, trans_a=False, trans_b=False, out=None):
    kernel = _KERNELS.get(a.dtype) if _matrix(a) and _matrix(b) and a.dtype == b.dtype else None
    if kernel is not None:  # the common call, which check_matmul would pass as it is: its checks in a few reads
        m, k = a.shape[::-1] if trans_a else a.shape
        k2, n = b.shape[::-1] if trans_b else b.shape
        if k == k2 and (out is None or (type(out) is np.ndarray and out.shape == (m, n) and out.dtype == a.dtype
                                        and out.flags.c_contiguous and out.flags.writeable)):
            accumulate = out is not None
            if out is None:
                out = np.empty((m, n), dtype=a.dtype)
            kernel(a, b, out, trans_a, trans_b, accumulate, _threads.team_above(m * n * k, _MIN_PARALLEL_MACS))
            return out
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
