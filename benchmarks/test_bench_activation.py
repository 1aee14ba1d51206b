"""Bias + ReLU epilogue and ReLU gradient benchmarks: the Cython kernels against the NumPy reference.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_activation.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    {LeNet conv1 output 64x28x28x6, dense 64x512, VGG 64x32x32x64} x {bias_relu, relu_backward} x {cython, numpy}

Side-by-side ratio table at 1 and 2 OpenMP threads
(``python benchmarks/test_bench_activation.py``): both backends timed in one
run, round-robin with the thread counts, warmed up, medians
(``nnkit.bench.timing.compare``).
"""
import platform

import numpy as np
import pytest

from nnkit._ext import threads
from nnkit.backend.cython import activation as cy
from nnkit.backend.reference import activation as ref

SHAPES = {"64x28x28x6": (64, 28, 28, 6), "64x512": (64, 512), "64x32x32x64": (64, 32, 32, 64)}
BACKENDS = {"cython": cy, "numpy": ref}


def make(name, op, backend, dtype=np.float32):
    """A no-argument callable running one case (in place, as the layers run the forward)."""
    shape = SHAPES[name]
    mod = BACKENDS[backend]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=dtype)
    bias = rng.standard_normal(shape[-1], dtype=dtype)
    if op == "bias_relu":
        out = np.empty_like(x)
        return lambda: mod.bias_relu(x, bias, True, out=out)
    g = rng.standard_normal(shape, dtype=dtype)
    return lambda: mod.relu_backward(g, x)


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("op", ["bias_relu", "relu_backward"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_activation(benchmark, name, op, backend):
    benchmark.extra_info.update(omp_threads=threads.get_num_threads(), machine=platform.processor())
    benchmark(make(name, op, backend))


def cases():
    """Case name -> {backend: callable}."""
    return {f"{op} {name}": {b: make(name, op, b) for b in BACKENDS}
            for name in SHAPES for op in ("bias_relu", "relu_backward")}


if __name__ == "__main__":
    from side_by_side import print_table, ratio_table

    print_table(ratio_table(cases()))
