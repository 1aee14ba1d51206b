"""Kernel benchmarks: every ``nnkit bench`` kernel case (``nnkit.bench.kernel_cases``: each op through
``nnkit.functional``, autograd included, as users run it), plus a few shapes only pytest-benchmark times, on the
Cython kernels and on the NumPy reference.

    python -m pytest benchmarks/test_bench_kernels.py [-k pool]   # --benchmark-disable: each once, a smoke test

The side-by-side table (PyTorch, JAX, onnxruntime where installed; alternating, warmed up, medians; the sgemm
roofline) is ``nnkit bench --only <group>``; ``python benchmarks/test_bench_kernels.py [group or name ...]``
prints the same rows for these cases, the extra ones included (those without the PyTorch column: the worker
processes know only ``nnkit bench``'s cases).
"""
import sys

import pytest

from nnkit.bench.kernel_cases import (affine_case, kernel_cases, margin_xent_case, optim_case, pool_case,
                                      relu_case, softmax_xent_case)

EXTRA = [
    relu_case(64, 28, 28, 6),
    affine_case(16, 128, 128, 3),
    softmax_xent_case(64, 10),
    # ArcFace from nnkit's ops, as users write it without the fused kernel (nnkit.bench.margin_unfused)
    *(margin_xent_case(256, k, fused=False) for k in (1000, 10000)),
    # a window wider than the running-sum threshold (the window-by-window kernel took 12 s here)
    *(pool_case("1x1x1048576x1 1x16384/16384", 1, 1, 2**20, 1, (1, 16384), (1, 16384), "valid", op=op)
      for op in ("max", "avg")),
    *(optim_case(update, (3, 3, 256, 256)) for update in ("adam", "nadam", "lion")),
    optim_case("adam", (784, 512)),
]
CASES = {f"{case.group}: {case.name}": case for case in kernel_cases() + EXTRA}


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("name", list(CASES))
def test_kernel(bench_case, name, backend):
    bench_case(CASES[name], backend)


if __name__ == "__main__":
    from nnkit.bench.cli import select
    from nnkit.bench.runner import table

    table(select(list(CASES.values()), ",".join(sys.argv[1:]), quick=False))
