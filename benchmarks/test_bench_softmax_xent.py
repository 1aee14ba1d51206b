"""Softmax + cross-entropy benchmarks: the Cython kernels against the NumPy reference.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_softmax_xent.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    {(64, 10), (256, 1000)} x {fwd, fwd+bwd} x {cython, numpy}, integer labels

Side-by-side ratio table at 1 and 2 OpenMP threads
(``python benchmarks/test_bench_softmax_xent.py``): both backends timed in one
run, round-robin with the thread counts, warmed up, medians
(``nnkit.bench.timing.compare``).
"""
import os
import platform

import numpy as np
import pytest

from nnkit._ext import threads
from nnkit.backend.cython import softmax_xent as cy
from nnkit.backend.reference import softmax_xent as ref

SHAPES = {"64x10": (64, 10), "256x1000": (256, 1000)}
BACKENDS = {"cython": cy, "numpy": ref}


def make(name, mode, backend, dtype=np.float32):
    """A no-argument callable running one case."""
    n, k = SHAPES[name]
    mod = BACKENDS[backend]
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((n, k), dtype=dtype) * 3
    labels = rng.integers(0, k, n)
    dloss = np.full(n, 1 / n, dtype=dtype)
    if mode == "fwd":
        return lambda: mod.softmax_cross_entropy_forward(logits, labels)

    def fwd_bwd():
        _, probs = mod.softmax_cross_entropy_forward(logits, labels)
        mod.softmax_cross_entropy_backward(dloss, probs, labels)
    return fwd_bwd


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_softmax_cross_entropy(benchmark, name, mode, backend):
    benchmark.extra_info.update(omp_threads=threads.get_num_threads(), machine=platform.processor())
    benchmark(make(name, mode, backend))


def cases():
    """Case name -> {backend: callable}."""
    return {f"softmax_xent {name} {mode}": {b: make(name, mode, b) for b in BACKENDS}
            for name in SHAPES for mode in ("fwd", "fwd+bwd")}


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
