"""Pooling benchmarks: the Cython kernels against the NumPy reference.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_pool.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    shape x {max, avg} x {fwd, fwd+bwd} x {cython, numpy}

Side-by-side ratio table at 1 and 2 OpenMP threads
(``python benchmarks/test_bench_pool.py``): both backends timed in one run,
round-robin with the thread counts, warmed up, medians
(``nnkit.bench.timing.compare``).
"""
import platform

import numpy as np
import pytest

from nnkit._ext import threads
from nnkit.backend.cython import pool as cy
from nnkit.backend.reference import pool as ref

# name: (x shape, pool_size, strides, padding)
CASES = {
    "64x28x28x6 2x2/2": ((64, 28, 28, 6), (2, 2), (2, 2), ((0, 0), (0, 0))),
    "64x32x32x64 2x2/2": ((64, 32, 32, 64), (2, 2), (2, 2), ((0, 0), (0, 0))),
    "64x32x32x64 3x3/2 pad 1": ((64, 32, 32, 64), (3, 3), (2, 2), ((1, 1), (1, 1))),
    # a window wider than the running-sum threshold (the window-by-window kernel took 12 s here)
    "1x1x1048576x1 1x16384/16384": ((1, 1, 2**20, 1), (1, 16384), (1, 16384), ((0, 0), (0, 0))),
}
BACKENDS = {"cython": cy, "numpy": ref}


def make(name, kind, mode, backend, dtype=np.float32):
    """A no-argument callable running one case."""
    shape, *geometry = CASES[name]
    mod = BACKENDS[backend]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=dtype)
    if kind == "max":
        y, argmax = ref.max_pool2d_forward(x, *geometry)
        dy = rng.standard_normal(y.shape, dtype=dtype)
        if mode == "fwd":
            return lambda: mod.max_pool2d_forward(x, *geometry)

        def max_fwd_bwd():
            _, arg = mod.max_pool2d_forward(x, *geometry)
            mod.max_pool2d_backward(dy, arg, x.shape)
        return max_fwd_bwd
    dy = rng.standard_normal(ref.avg_pool2d_forward(x, *geometry).shape, dtype=dtype)
    if mode == "fwd":
        return lambda: mod.avg_pool2d_forward(x, *geometry)

    def avg_fwd_bwd():
        mod.avg_pool2d_forward(x, *geometry)
        mod.avg_pool2d_backward(dy, x.shape, *geometry)
    return avg_fwd_bwd


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("name", list(CASES))
def test_pool2d(benchmark, name, kind, mode, backend):
    benchmark.extra_info.update(omp_threads=threads.get_num_threads(), machine=platform.processor())
    benchmark(make(name, kind, mode, backend))


def cases():
    """Case name -> {backend: callable}."""
    return {f"{kind}_pool {name} {mode}": {b: make(name, kind, mode, b) for b in BACKENDS}
            for name in CASES for kind in ("max", "avg") for mode in ("fwd", "fwd+bwd")}


if __name__ == "__main__":
    from side_by_side import print_table, ratio_table

    print_table(ratio_table(cases()))
