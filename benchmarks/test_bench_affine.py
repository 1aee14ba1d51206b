"""Affine (projective) resampling benchmarks: the Cython kernels against the NumPy reference.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_affine.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    {64x32x32x3, 16x128x128x3} x {fwd, fwd+bwd} x {cython, numpy}, bilinear, reflect, random rotations

Side-by-side ratio table at 1 and 2 OpenMP threads
(``python benchmarks/test_bench_affine.py``): both backends timed in one run,
round-robin with the thread counts, warmed up, medians.
"""
import platform

import numpy as np
import pytest

from nnkit._ext import threads
from nnkit.backend.cython import affine as cy
from nnkit.backend.reference import affine as ref
from nnkit.layers.augmentation import rotation_transforms

SHAPES = {"64x32x32x3": (64, 32, 32, 3), "16x128x128x3": (16, 128, 128, 3)}
BACKENDS = {"cython": cy, "numpy": ref}


def make(name, mode, backend, dtype=np.float32):
    """A no-argument callable running one case."""
    n, h, w, c = SHAPES[name]
    mod = BACKENDS[backend]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    t = rotation_transforms(rng.uniform(-0.6, 0.6, n), h, w)
    if mode == "fwd":
        return lambda: mod.affine_forward(x, t, None, "bilinear", "reflect")

    def fwd_bwd():
        y = mod.affine_forward(x, t, None, "bilinear", "reflect")
        mod.affine_backward(y, t, x.shape, "bilinear", "reflect")
    return fwd_bwd


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_affine(benchmark, name, mode, backend):
    benchmark.extra_info.update(omp_threads=threads.get_num_threads(), machine=platform.processor())
    benchmark(make(name, mode, backend))


def cases():
    """Case name -> {backend: callable}."""
    return {f"affine {name} {mode}": {b: make(name, mode, b) for b in BACKENDS}
            for name in SHAPES for mode in ("fwd", "fwd+bwd")}


if __name__ == "__main__":
    from side_by_side import print_table, ratio_table

    print_table(ratio_table(cases()))
