"""Attention-block benchmark: MultiHeadAttention (self-attention) + residual LayerNormalization, forward and
backward, on the Cython kernels and on the NumPy reference (``nnkit.set_backend``).

``python -m pytest benchmarks/test_bench_attention.py`` (``--benchmark-disable`` runs each case once); the
side-by-side table with PyTorch's ``nn.MultiheadAttention`` + ``nn.LayerNorm`` is the ``nnkit bench --only
attention`` row.
"""
import platform

import pytest

import nnkit
from nnkit._ext import threads
from nnkit.bench.kernel_cases import attention_case

BATCH, STEPS, DIM, HEADS = 32, 64, 128, 4


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_attention_block(benchmark, backend):
    benchmark.extra_info.update(omp_threads=threads.get_num_threads(), machine=platform.processor())
    before = nnkit.get_backend()
    nnkit.set_backend(backend)
    try:
        benchmark(attention_case(BATCH, STEPS, DIM, HEADS).nnkit(backend))
    finally:
        nnkit.set_backend(before)
