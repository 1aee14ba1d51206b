"""GEMM benchmarks: the OpenMP-blocked kernel (one single-threaded BLAS call
per thread) against NumPy's matmul on the dense-layer shapes of the model cases.
``--benchmark-disable`` runs each once as a smoke test."""
import numpy as np
import pytest

from nnkit.backend.cython import gemm as cy
from nnkit.backend.reference import gemm as ref

SHAPES = {  # (M, K, N): forward, then the two backward products of a 64-sample dense layer
    "64x784 @ 784x512": ((64, 784), (784, 512), False, False),
    "dW 784x64 @ 64x512": ((64, 784), (64, 512), True, False),
    "dX 64x512 @ 512x784": ((64, 512), (784, 512), False, True),
    "512x512 @ 512x512": ((512, 512), (512, 512), False, False),
}
IMPLS = {"cython": cy, "numpy": ref}


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("name", list(SHAPES))
def test_matmul(benchmark, name, impl):
    sa, sb, ta, tb = SHAPES[name]
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa, dtype=np.float32), rng.standard_normal(sb, dtype=np.float32)
    benchmark(IMPLS[impl].matmul, a, b, ta, tb)
