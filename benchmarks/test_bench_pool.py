"""Pooling benchmarks: the Cython kernels against the NumPy reference.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_pool.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    shape x {max, avg} x {fwd, fwd+bwd} x {cython, numpy}

Side-by-side ratio table at 1 and 2 OpenMP threads
(``python benchmarks/test_bench_pool.py``): both backends timed in one run,
round-robin with the thread counts, warmed up, medians
(``nnkit.bench.timing.compare``).
"""
import os
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


def _at(n_threads, fn):
    def run():
        threads.set_num_threads(n_threads)
        fn()
    return run


def ratio_table(thread_counts=(1, 2), rounds=9):
    """Rows (threads, case, t_cython, t_numpy) in seconds.  Per case, both backends
    at every thread count are timed round-robin in one ``compare`` (warmed up,
    medians), so the machine's noise spreads evenly over all of them."""
    from nnkit.bench.timing import compare

    before = threads.get_num_threads()
    rows = []
    try:
        for case, fns in cases().items():
            t = compare({(b, n): _at(n, fn) for b, fn in fns.items() for n in thread_counts}, rounds=rounds)
            rows += [(n, case, t["cython", n], t["numpy", n]) for n in thread_counts]
    finally:
        threads.set_num_threads(before)
    return sorted(rows, key=lambda row: row[0])


def print_table(rows):
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs; float32")
    print(f"{'T':>2} {'case':40s} {'cython ms':>10s} {'numpy ms':>10s} {'x numpy':>8s}")
    for nt, case, tc, tn in rows:
        print(f"{nt:2d} {case:40s} {tc * 1e3:10.3f} {tn * 1e3:10.3f} {tn / tc:8.1f}")
    one = {case: tc for nt, case, tc, _ in rows if nt == 1}
    print("Cython speed-up over its 1-thread time:")
    for nt, case, tc, _ in rows:
        if nt > 1 and case in one:
            print(f"{nt:2d} {case:40s} {one[case] / tc:5.2f}x")


if __name__ == "__main__":
    print_table(ratio_table())
