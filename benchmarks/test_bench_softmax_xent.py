"""Softmax + cross-entropy benchmarks: the Cython kernels against the NumPy reference.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_softmax_xent.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    {(64, 10), (256, 1000)} x {fwd, fwd+bwd} x {cython, numpy}, integer labels

Side-by-side ratio table at 1 and 2 OpenMP threads
(``python benchmarks/test_bench_softmax_xent.py``): both backends timed in one
run, round-robin with the thread counts, warmed up, medians
(``nnkit.bench.timing.compare``).
"""
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


if __name__ == "__main__":
    from side_by_side import print_table, ratio_table

    print_table(ratio_table(cases()))
