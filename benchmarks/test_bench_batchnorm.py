"""Batch-norm benchmarks: the Cython kernels against the NumPy reference.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_batchnorm.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    (64, 32, 32, 64) x {train fwd, train fwd+bwd, inference} x {cython, numpy}

Side-by-side ratio table at 1 and 2 OpenMP threads
(``python benchmarks/test_bench_batchnorm.py``): both backends timed in one
run, round-robin with the thread counts, warmed up, medians
(``nnkit.bench.timing.compare``).
"""
import platform

import numpy as np
import pytest

from nnkit._ext import threads
from nnkit.backend.cython import batchnorm as cy
from nnkit.backend.reference import batchnorm as ref

SHAPES = {"64x32x32x64": (64, 32, 32, 64)}
MODES = ["train fwd", "train fwd+bwd", "inference"]
BACKENDS = {"cython": cy, "numpy": ref}


def make(name, mode, backend, dtype=np.float32):
    """A no-argument callable running one case."""
    shape = SHAPES[name]
    mod = BACKENDS[backend]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=dtype)
    dy = rng.standard_normal(shape, dtype=dtype)
    gamma = rng.uniform(0.5, 2, shape[-1]).astype(dtype)
    beta = rng.standard_normal(shape[-1], dtype=dtype)
    var = rng.uniform(0.5, 2, shape[-1]).astype(dtype)
    if mode == "inference":
        return lambda: mod.batch_norm_inference(x, gamma, beta, beta, var, 1e-3)
    if mode == "train fwd":
        return lambda: mod.batch_norm_forward_train(x, gamma, beta, 1e-3)

    def fwd_bwd():
        _, mean, invstd, _ = mod.batch_norm_forward_train(x, gamma, beta, 1e-3)
        mod.batch_norm_backward(dy, x, mean, invstd, gamma)
    return fwd_bwd


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(SHAPES))
def test_batch_norm(benchmark, name, mode, backend):
    benchmark.extra_info.update(omp_threads=threads.get_num_threads(), machine=platform.processor())
    benchmark(make(name, mode, backend))


def cases():
    """Case name -> {backend: callable}."""
    return {f"batch_norm {name} {mode}": {b: make(name, mode, b) for b in BACKENDS}
            for name in SHAPES for mode in MODES}


if __name__ == "__main__":
    from side_by_side import print_table, ratio_table

    print_table(ratio_table(cases()))
