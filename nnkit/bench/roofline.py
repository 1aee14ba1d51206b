"""The sgemm roofline: GFLOP/s of the BLAS that nnkit's kernels call.

nnkit's Cython GEMMs go through scipy's BLAS (scipy.linalg.cython_blas), so
the roofline is scipy.linalg.blas.sgemm on square float32 matrices.
"""
import numpy as np
from scipy.linalg import blas
from threadpoolctl import threadpool_limits

from nnkit.bench.timing import compare


def sgemm_gflops(threads, n=1024, rounds=5):
    """GFLOP/s of the BLAS sgemm on ``threads`` threads (its own pool, as a user would run it)."""
    rng = np.random.default_rng(0)
    a = np.asfortranarray(rng.standard_normal((n, n), dtype=np.float32))
    b = np.asfortranarray(rng.standard_normal((n, n), dtype=np.float32))
    c = np.zeros((n, n), np.float32, order="F")

    def run():
        blas.sgemm(1.0, a, b, c=c, overwrite_c=True)

    # nnkit keeps the BLAS pool at one thread (its kernels thread by OpenMP); the roofline
    # is the BLAS at full strength on the same number of threads.
    with threadpool_limits(limits=threads, user_api="blas"):
        seconds = compare({"sgemm": run}, rounds=rounds, warmup=1)["sgemm"]
    return 2.0 * n ** 3 / seconds / 1e9
