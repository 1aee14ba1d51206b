"""Fused optimizer update benchmarks: the Cython kernel against the NumPy reference.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_optim.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    {Adam, Nadam, Adamax, Adadelta, Lion, Ftrl} on {the 784-512-512-10 MLP's largest weight 784x512,
    a 3x3x256x256 conv kernel} x {cython, numpy}

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
from nnkit.bench.kernel_cases import OPTIM_UPDATES

SHAPES = {"784x512": (784, 512), "3x3x256x256": (3, 3, 256, 256)}
BACKENDS = {"cython": cy, "numpy": ref}
# update -> (number of state arrays, scalars): Adam's vhat is None (no AMSGrad)
UPDATES = {"adam": (2, (None, 1e-3, 0.9, 0.999, 1e-7)),
           **{name: (len(state), scalars) for name, (state, scalars, _) in OPTIM_UPDATES.items()}}


def make(name, backend, update="adam", dtype=np.float32):
    """A no-argument callable running one ``update`` step in place on a weight of shape ``SHAPES[name]``."""
    rng = np.random.default_rng(0)
    n_state, scalars = UPDATES[update]
    w, g = (rng.standard_normal(SHAPES[name], dtype=dtype) * 0.01 for _ in range(2))
    state = [np.abs(rng.standard_normal(SHAPES[name], dtype=dtype)) for _ in range(n_state)]
    kernel = getattr(BACKENDS[backend], f"{update}_update")
    return lambda: kernel(w, g, *state, *scalars)


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("name", list(SHAPES))
@pytest.mark.parametrize("update", list(UPDATES))
def test_optim_update(benchmark, update, name, backend):
    benchmark.extra_info.update(omp_threads=threads.get_num_threads(), machine=platform.processor())
    benchmark(make(name, backend, update))


def cases():
    """Case name -> {backend: callable}."""
    return {f"{update}_update {name}": {b: make(name, b, update) for b in BACKENDS}
            for update in UPDATES for name in SHAPES}


if __name__ == "__main__":
    from side_by_side import print_table, ratio_table

    print_table(ratio_table(cases()))
