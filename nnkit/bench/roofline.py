"""The sgemm roofline: GFLOP/s of the sgemm nnkit's kernels call, at the row's thread count.

That is the BLAS ``nnkit.backend.cython.blas`` chose (MKL or scipy's
OpenBLAS) on square float32 matrices, split over the OpenMP team the way the
kernels split their GEMMs (one single-threaded BLAS call per block of rows).
"""
import numpy as np

from nnkit.backend.cython import gemm
from nnkit.bench.timing import timed


def sgemm_gflops(threads, n=1024, samples=7):
    """GFLOP/s of an n x n x n float32 product through nnkit's GEMM kernel on ``threads`` threads.

    A peak, so the best of ``samples`` (two products each), not a median: on a busy machine the median
    understates it, and rows that run while the machine is quieter would then pass 100 %.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.zeros((n, n), np.float32)

    def run():
        gemm._ext.matmul(a, b, c, False, False, False, threads)  # the exact team, not the adaptive one

    run()  # warm-up: packing buffers, page faults
    seconds = min(timed(run, 2) / 2 for _ in range(samples))
    return 2.0 * n ** 3 / seconds / 1e9
