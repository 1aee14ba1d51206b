"""The sgemm roofline: GFLOP/s of the BLAS that nnkit's kernels call.

nnkit's Cython GEMMs go through scipy's BLAS (scipy.linalg.cython_blas), so
the roofline is scipy.linalg.blas.sgemm on square float32 matrices.
"""
import numpy as np
from scipy.linalg import blas

from nnkit.bench.timing import compare


def sgemm_gflops(n=1024, rounds=5):
    rng = np.random.default_rng(0)
    a = np.asfortranarray(rng.standard_normal((n, n), dtype=np.float32))
    b = np.asfortranarray(rng.standard_normal((n, n), dtype=np.float32))
    c = np.zeros((n, n), np.float32, order="F")

    def run():
        blas.sgemm(1.0, a, b, c=c, overwrite_c=True)

    seconds = compare({"sgemm": run}, rounds=rounds, warmup=1)["sgemm"]
    return 2.0 * n ** 3 / seconds / 1e9
