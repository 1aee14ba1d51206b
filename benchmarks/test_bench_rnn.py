"""Recurrent-layer benchmarks (LSTM, GRU): the Cython kernels against the NumPy reference, and PyTorch.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_rnn.py``; ``--benchmark-disable`` runs each
case once as a smoke test)::

    {lstm, gru} x batch 64, 100 steps, 128 features -> 128 units x {fwd (inference), fwd+bwd} x {cython, numpy}

Side-by-side table at 1 and 2 threads (``python benchmarks/test_bench_rnn.py``): nnkit's ``lstm``/``gru``
(autograd included), the NumPy reference and ``torch.nn.LSTM``/``nn.GRU`` when PyTorch is installed, timed
round-robin in one run, warmed up, medians (the ``nnkit bench --only rnn`` rows).
"""
import platform

import numpy as np
import pytest

from nnkit._ext import threads
from nnkit.backend.cython import rnn as cy
from nnkit.backend.reference import rnn as ref

BATCH, STEPS, FEATURES, UNITS = 64, 100, 128, 128
GATES = {"lstm": 4, "gru": 3}
BACKENDS = {"cython": cy, "numpy": ref}


def make(cell, mode, backend, dtype=np.float32):
    """A no-argument callable running one case on the backend's kernels."""
    mod = BACKENDS[backend]
    rng = np.random.default_rng(0)
    g = GATES[cell]
    x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype(dtype)
    kernel = (rng.standard_normal((FEATURES, g * UNITS)) * 0.1).astype(dtype)
    rk = (rng.standard_normal((UNITS, g * UNITS)) * 0.1).astype(dtype)
    bias = (rng.standard_normal((2, 3 * UNITS) if cell == "gru" else g * UNITS) * 0.1).astype(dtype)
    states = [np.zeros((BATCH, UNITS), dtype)] * (2 if cell == "lstm" else 1)
    forward, backward = getattr(mod, f"{cell}_forward"), getattr(mod, f"{cell}_backward")
    if mode == "fwd":
        return lambda: forward(x, *states, kernel, rk, bias, training=False)

    def fwd_bwd():
        y, saved = forward(x, *states, kernel, rk, bias)
        backward(np.ones_like(y), saved)
    return fwd_bwd


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("cell", list(GATES))
def test_recurrent(benchmark, cell, mode, backend):
    benchmark.extra_info.update(omp_threads=threads.get_num_threads(), machine=platform.processor())
    benchmark(make(cell, mode, backend))


if __name__ == "__main__":
    from nnkit.bench.kernel_cases import recurrent_case
    from nnkit.bench.runner import HEADER, run

    cases = [recurrent_case(cell, BATCH, STEPS, FEATURES, UNITS, backward=bwd)
             for cell in GATES for bwd in (True, False)]
    print(f"machine: {platform.machine()} {platform.processor() or ''}; float32; x torch = torch time / nnkit time")
    print(HEADER)
    run(cases, threads=(1, 2), rounds=9)
