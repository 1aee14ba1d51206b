"""Convolution benchmarks: the Cython kernels against the NumPy reference and the sgemm roofline.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_conv.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    shape x {fwd, fwd+bwd} x {cython, numpy, sgemm}

``sgemm`` is the roofline: ``np.matmul`` in float32 on the GEMMs an im2col
convolution of that shape performs (forward ``cols @ W``; backward
``cols^T @ dY`` and ``dY @ W^T``), so "fraction of roofline" is the time of
those GEMMs alone over the time of the whole convolution.

Side-by-side ratio table at 1 and 2 threads (``PYTHONPATH=. python benchmarks/test_bench_conv.py
[shape ...]``): measured in one run, in rounds that alternate thread counts and
backends (cython, numpy, sgemm, a 2048^3 sgemm for the machine's peak); each
block is warmed up and reported as its median, after a pause that lets the
previous library's spinning worker threads go to sleep.  Ratios are taken
within a round, then the median over rounds.  (Not ``side_by_side.ratio_table``:
convolutions need the BLAS thread count set alongside OpenMP's, the sgemm
roofline, and that pause; call-by-call round-robin would charge each backend
for the other library's spinning threads.)
"""
import os
import platform
import sys
import time

import numpy as np
import pytest

from nnkit._ext import threads
from nnkit.backend.cython import conv as cy
from nnkit.backend.reference import conv as ref

# name: (N, H, W, C, F, k, stride, padding, groups)
SHAPES = {
    "early_1to6_k5": (64, 28, 28, 1, 6, 5, 1, ((2, 2), (2, 2)), 1),
    "c3to64_k3": (32, 32, 32, 3, 64, 3, 1, ((1, 1), (1, 1)), 1),
    "c64to64_k3": (32, 32, 32, 64, 64, 3, 1, ((1, 1), (1, 1)), 1),
    "c64to128_k3": (32, 16, 16, 64, 128, 3, 1, ((1, 1), (1, 1)), 1),
    "c128to256_k3_s2": (32, 16, 16, 128, 256, 3, 2, ((0, 1), (0, 1)), 1),
    "pointwise_128": (32, 16, 16, 128, 128, 1, 1, ((0, 0), (0, 0)), 1),
    "depthwise_64_k3": (32, 32, 32, 64, 64, 3, 1, ((1, 1), (1, 1)), 64),
}
BACKENDS = {"cython": cy, "numpy": ref}


def make_case(name, dtype=np.float32, seed=0):
    n, h, w, c, f, k, s, pad, groups = SHAPES[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c), dtype=dtype)
    wt = rng.standard_normal((k, k, c // groups, f), dtype=dtype) / dtype(np.sqrt(k * k * c // groups))
    b = rng.standard_normal(f, dtype=dtype)
    geom = ((s, s), pad, (1, 1), groups)
    y = ref.conv2d_forward(x, wt, b, *geom)
    dy = rng.standard_normal(y.shape, dtype=dtype)
    return x, wt, b, dy, geom


def flops(name, backward):
    """Multiply-adds x 2 of the convolution (forward, or forward + both backward GEMMs)."""
    n, h, w, c, f, k, s, pad, groups = SHAPES[name]
    oh = (h + sum(pad[0]) - k) // s + 1
    ow = (w + sum(pad[1]) - k) // s + 1
    fwd = 2 * n * oh * ow * k * k * (c // groups) * f
    return fwd * (3 if backward else 1)


def conv_fn(backend, x, w, b, dy, geom, backward):
    mod = BACKENDS[backend]
    if not backward:
        return lambda: mod.conv2d_forward(x, w, b, *geom)

    def fwd_bwd():
        mod.conv2d_forward(x, w, b, *geom)
        mod.conv2d_backward(dy, x, w, *geom)
    return fwd_bwd


def roofline_fn(name, backward):
    """np.matmul (float32) on the GEMMs of an im2col convolution of this shape; None if grouped."""
    n, h, w, c, f, k, s, pad, groups = SHAPES[name]
    if groups != 1:
        return None
    m, kk = n * ((h + sum(pad[0]) - k) // s + 1) * ((w + sum(pad[1]) - k) // s + 1), k * k * c
    rng = np.random.default_rng(1)
    cols = rng.standard_normal((m, kk), dtype=np.float32)
    wm = rng.standard_normal((kk, f), dtype=np.float32)
    dym = rng.standard_normal((m, f), dtype=np.float32)
    if not backward:
        return lambda: cols @ wm

    def fwd_bwd():
        cols @ wm
        cols.T @ dym
        dym @ wm.T
    return fwd_bwd


# ----------------------------------------------------------------------------- pytest-benchmark

@pytest.mark.parametrize("backend", ["cython", "numpy", "sgemm"])
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_conv2d(benchmark, name, mode, backend):
    backward = mode == "fwd+bwd"
    if backend == "sgemm":
        fn = roofline_fn(name, backward)
        if fn is None:
            pytest.skip("no single-GEMM roofline for a grouped convolution")
    else:
        fn = conv_fn(backend, *make_case(name), backward)
    benchmark.extra_info.update(gflop=flops(name, backward) / 1e9, omp_threads=threads.get_num_threads(),
                                machine=machine())
    benchmark(fn)


# ----------------------------------------------------------------------------- ratio table

def machine():
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, {os.cpu_count()} logical CPUs"


def _block(fn, reps):
    """Median of ``reps`` timed calls after one warm-up call (caches, page faults, the other
    library's spinning worker threads)."""
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def ratio_table(thread_counts=(1, 2), rounds=5, pause=0.15, names=None):
    """Side-by-side timings; returns rows of dicts, medians over ``rounds``.

    Every round times each (threads, backend) pair in turn, so slow drifts of the
    machine hit all of them alike; ratios are taken within a round, then the median.
    BLAS threads and OpenMP threads are both set to the thread count.
    """
    from threadpoolctl import threadpool_limits

    old_threads = threads.get_num_threads()
    rows = []
    big = np.ones((2048, 2048), np.float32)
    peak_fn = lambda: big @ big  # noqa: E731
    try:
        for name in names or SHAPES:
            case = make_case(name)
            for backward in (False, True):
                fns = {"cython": conv_fn("cython", *case, backward),
                       "numpy": conv_fn("numpy", *case, backward),
                       "sgemm": roofline_fn(name, backward), "peak": peak_fn}
                fns = {k: f for k, f in fns.items() if f is not None}
                reps = {k: max(3, min(15, int(0.2 / max(_block(f, 1), 1e-6)))) for k, f in fns.items()}
                times = {(nt, k): [] for nt in thread_counts for k in fns}
                for _ in range(rounds):
                    for nt in thread_counts:
                        threads.set_num_threads(nt)
                        with threadpool_limits(limits=nt, user_api="blas"):
                            for k, f in fns.items():
                                time.sleep(pause)
                                times[nt, k].append(_block(f, reps[k]))
                for nt in thread_counts:
                    t = {k: np.array(times[nt, k]) for k in fns}
                    row = dict(threads=nt, shape=name, mode="fwd+bwd" if backward else "fwd",
                               gflop=flops(name, backward) / 1e9,
                               cython_ms=1e3 * np.median(t["cython"]), numpy_ms=1e3 * np.median(t["numpy"]),
                               x_numpy=np.median(t["numpy"] / t["cython"]),
                               peak_gflops=2 * 2048**3 / np.median(t["peak"]) / 1e9)
                    if "sgemm" in t:
                        row.update(sgemm_ms=1e3 * np.median(t["sgemm"]),
                                   roofline=np.median(t["sgemm"] / t["cython"]))
                    if nt != thread_counts[0]:
                        row["speedup"] = np.median(np.array(times[thread_counts[0], "cython"]) / t["cython"])
                    rows.append(row)
    finally:
        threads.set_num_threads(old_threads)
    return rows


def print_table(rows, out=sys.stdout):
    out.write(f"machine: {machine()}; T = OpenMP threads = BLAS threads\n")
    out.write(f"{'T':>2} {'shape':17s} {'mode':8s} {'cython ms':>10s} {'numpy ms':>10s} {'x numpy':>8s} "
              f"{'GFLOP/s':>8s} {'sgemm GF/s':>10s} {'% roofline':>10s} {'peak GF/s':>9s} {'vs T=1':>7s}\n")
    for r in rows:
        gflops = r["gflop"] / r["cython_ms"] * 1e3
        roof = (f"{r['gflop'] / r['sgemm_ms'] * 1e3:10.1f} {100 * r['roofline']:9.0f}%" if "roofline" in r
                else f"{'-':>10s} {'-':>10s}")
        speedup = f"{r['speedup']:6.2f}x" if "speedup" in r else f"{'':>7s}"
        out.write(f"{r['threads']:2d} {r['shape']:17s} {r['mode']:8s} "
                  f"{r['cython_ms']:10.2f} {r['numpy_ms']:10.2f} "
                  f"{r['x_numpy']:8.1f} {gflops:8.1f} {roof} {r['peak_gflops']:9.1f} {speedup}\n")


if __name__ == "__main__":
    print_table(ratio_table(names=sys.argv[1:] or None))
