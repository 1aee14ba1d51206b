"""Fused optimizer update benchmarks: the Cython kernel against the NumPy reference.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_optim.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    Adam on {the 784-512-512-10 MLP's largest weight 784x512, a 3x3x256x256 conv kernel} x {cython, numpy}

Side-by-side ratio table at 1 and 2 OpenMP threads
(``python benchmarks/test_bench_optim.py``): both backends timed in one
run, round-robin with the thread counts, warmed up, medians
(``nnkit.bench.timing.compare``).
"""
import platform

import numpy as np
import pytest

from nnkit._ext import threads
from nnkit.backend.cython import optim as cy
from nnkit.backend.reference import optim as ref

SHAPES = {"784x512": (784, 512), "3x3x256x256": (3, 3, 256, 256)}
BACKENDS = {"cython": cy, "numpy": ref}


def make(name, backend, dtype=np.float32):
    """A no-argument callable running one Adam step in place."""
    rng = np.random.default_rng(0)
    w, g, m = (rng.standard_normal(SHAPES[name], dtype=dtype) * 0.01 for _ in range(3))
    v = np.abs(g)
    return lambda: BACKENDS[backend].adam_update(w, g, m, v, None, 1e-3, 0.9, 0.999, 1e-7)


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("name", list(SHAPES))
def test_adam_update(benchmark, name, backend):
    benchmark.extra_info.update(omp_threads=threads.get_num_threads(), machine=platform.processor())
    benchmark(make(name, backend))


def cases():
    """Case name -> {backend: callable}."""
    return {f"adam_update {name}": {b: make(name, b) for b in BACKENDS} for name in SHAPES}


if __name__ == "__main__":
    from side_by_side import print_table, ratio_table

    print_table(ratio_table(cases()))
