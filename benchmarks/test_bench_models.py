"""Whole-model benchmarks: one training step (forward + backward + optimizer
update) of each model in ``nnkit.bench.model_cases``, and LeNet-5 batch-1
inference, on the Cython kernels, the NumPy reference and PyTorch (when
installed).  ``--benchmark-disable`` runs each once as a smoke test.

The side-by-side ratio table is ``nnkit bench --only model``.
"""
import pytest

from nnkit.bench import runner
from nnkit.bench.model_cases import model_cases

CASES = {case.name: case for case in model_cases()}
IMPLEMENTATIONS = ["cython", "numpy", "torch"]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("name", list(CASES))
def test_model_step(benchmark, bench_case, name, impl):
    case = CASES[name]
    if impl != "torch":
        return bench_case(case, impl)
    if not runner.torch_available():
        pytest.skip("PyTorch is not installed (pip install '.[bench]')")
    benchmark.extra_info.update(items=case.items, impl=impl)
    benchmark(case.torch())
