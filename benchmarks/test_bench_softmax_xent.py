"""Softmax + cross-entropy benchmarks: the Cython kernels against the NumPy reference.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_softmax_xent.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    {(64, 10), (256, 1000)} x {fwd, fwd+bwd} x {cython, numpy}, integer labels

Side-by-side ratio table at 1 and 2 OpenMP threads
(``python benchmarks/test_bench_softmax_xent.py``): both backends timed in one
run, round-robin, warmed up, medians (``nnkit.bench.timing.compare``).
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


def ratio_table(thread_counts=(1, 2), rounds=9):
    """Rows (threads, case, t_cython, t_numpy) in seconds."""
    from nnkit.bench.timing import compare

    rows = []
    for nt in thread_counts:
        threads.set_num_threads(nt)
        for name in SHAPES:
            for mode in ("fwd", "fwd+bwd"):
                t = compare({b: make(name, mode, b) for b in BACKENDS}, rounds=rounds)
                rows.append((nt, f"softmax_xent {name} {mode}", t["cython"], t["numpy"]))
    return rows


def print_table(rows):
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs; float32")
    print(f"{'T':>2} {'case':40s} {'cython ms':>10s} {'numpy ms':>10s} {'x numpy':>8s}")
    for nt, case, tc, tn in rows:
        print(f"{nt:2d} {case:40s} {tc * 1e3:10.3f} {tn * 1e3:10.3f} {tn / tc:8.1f}")


if __name__ == "__main__":
    print_table(ratio_table())
