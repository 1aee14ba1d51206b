"""ArcFace benchmarks: the fused margin kernel against the same loss composed from unfused ops.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_margin_xent.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    {256x1000, 256x10000} x {fused (Cython), fused (NumPy reference), unfused ops}, fwd+bwd

"unfused" is ArcFace written with nnkit ops and autograd on the Cython
backend (``nnkit.bench.margin_unfused``: a gather, the margin's elementwise
ops, a one-hot mask, a scaled copy and the fused softmax cross-entropy), as
users write it without a margin kernel.

Side-by-side table at 1 and 2 OpenMP threads
(``python benchmarks/test_bench_margin_xent.py``): every variant at every
thread count timed round-robin in one run, warmed up, medians.
"""
import os
import platform

import numpy as np
import pytest

import nnkit
from nnkit import Tensor
from nnkit import functional as F
from nnkit._ext import threads
from nnkit.bench.margin_unfused import arcface_unfused
from nnkit.bench.timing import compare

SHAPES = {"256x1000": (256, 1000), "256x10000": (256, 10000)}
VARIANTS = ("fused", "fused-numpy", "unfused")


def make(name, variant, dtype=np.float32):
    """A no-argument callable running ArcFace forward and backward once."""
    n, k = SHAPES[name]
    rng = np.random.default_rng(0)
    cosines = Tensor(rng.uniform(-1, 1, (n, k)).astype(dtype), requires_grad=True)
    labels = rng.integers(0, k, n)
    backend = "numpy" if variant == "fused-numpy" else "cython"

    def loss():
        if variant == "unfused":
            return arcface_unfused(cosines, labels)
        return F.margin_cross_entropy(cosines, labels, 64.0, margin="arcface", m2=0.5)

    def step():
        nnkit.set_backend(backend)
        loss().backward()
        cosines.grad = None
        nnkit.set_backend("cython")
    return step


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", list(SHAPES))
def test_arcface(benchmark, name, variant):
    benchmark.extra_info.update(omp_threads=threads.get_num_threads(), machine=platform.processor())
    benchmark(make(name, variant))


def _at(n_threads, fn):
    def run():
        threads.set_num_threads(n_threads)
        fn()
    return run


def main(thread_counts=(1, 2), rounds=9):
    before = threads.get_num_threads()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs; float32, "
          f"ArcFace s=64 m=0.5, forward + backward")
    print(f"{'T':>2} {'case':12s} {'fused ms':>9s} {'unfused ms':>11s} {'numpy ms':>9s} {'x unfused':>10s}")
    try:
        for name in SHAPES:
            fns = {(v, t): _at(t, make(name, v)) for v in VARIANTS for t in thread_counts}
            times = compare(fns, rounds=rounds)
            for t in thread_counts:
                fused, ref, unfused = (times[v, t] for v in VARIANTS)
                print(f"{t:2d} {name:12s} {fused * 1e3:9.2f} {unfused * 1e3:11.2f} {ref * 1e3:9.2f} "
                      f"{unfused / fused:10.1f}")
    finally:
        threads.set_num_threads(before)


if __name__ == "__main__":
    main()
