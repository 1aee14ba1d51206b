"""The one way a benchmarks/ file times a case: ``bench_case(case, backend)`` runs ``case.nnkit(backend)``
(an ``nnkit.bench`` Case, the one ``nnkit bench`` times) under pytest-benchmark with that backend active."""
import platform

import pytest

import nnkit
from nnkit._ext import threads


@pytest.fixture
def bench_case(benchmark):
    def run(case, backend):
        before = nnkit.get_backend()
        nnkit.set_backend(backend)
        try:
            benchmark.extra_info.update(omp_threads=threads.get_num_threads(), machine=platform.processor(),
                                        items=case.items, gflop=case.flops / 1e9)
            benchmark(case.nnkit(backend))
        finally:
            nnkit.set_backend(before)
    return run
