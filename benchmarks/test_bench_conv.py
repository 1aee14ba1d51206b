"""Convolution benchmarks: the Cython kernels against the NumPy reference and the sgemm roofline.

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_conv.py``;
``--benchmark-disable`` runs each case once as a smoke test)::

    shape x {fwd, fwd+bwd} x {cython, numpy, sgemm}

``sgemm`` is the roofline: ``np.matmul`` in float32 on the GEMMs an im2col
convolution of that shape performs (forward ``cols @ W``; backward
``cols^T @ dY`` and ``dY @ W^T``), so "fraction of roofline" is the time of
those GEMMs alone over the time of the whole convolution.

Side-by-side ratio table at 1 and 2 threads (``python benchmarks/test_bench_conv.py``):
measured in one run, in alternating blocks (cython, numpy, sgemm, ...), each
block warmed up and reported as its median, after a pause that lets the
previous library's spinning worker threads go to sleep.
"""
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
                                machine=f"{platform.machine()} {platform.processor()}")
    benchmark(fn)


# ----------------------------------------------------------------------------- ratio table

def _median_time(fn, reps):
    fn()  # warm-up: caches, page faults, the other library's spinning threads
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def ratio_table(thread_counts=(1, 2), rounds=3, reps=5, pause=0.15, names=None):
    """Rows of (threads, shape, mode, t_cython, t_numpy, t_sgemm) in seconds, medians over rounds."""
    from threadpoolctl import threadpool_limits

    rows = []
    for nt in thread_counts:
        threads.set_num_threads(nt)
        with threadpool_limits(limits=nt, user_api="blas"):
            big = np.ones((2048, 2048), np.float32)
            peak = 2 * 2048**3 / _median_time(lambda: big @ big, reps)
            for name in names or SHAPES:
                case = make_case(name)
                for backward in (False, True):
                    fns = {"cython": conv_fn("cython", *case, backward), "numpy": conv_fn("numpy", *case, backward),
                           "sgemm": roofline_fn(name, backward)}
                    times = {k: [] for k in fns if fns[k] is not None}
                    for _ in range(rounds):
                        for k in times:
                            time.sleep(pause)
                            times[k].append(_median_time(fns[k], reps))
                    med = {k: float(np.median(v)) for k, v in times.items()}
                    rows.append((nt, name, "fwd+bwd" if backward else "fwd", med["cython"], med["numpy"],
                                 med.get("sgemm"), flops(name, backward), peak))
    return rows


def print_table(rows, out=sys.stdout):
    out.write(f"machine: {platform.machine()} {platform.processor()}, BLAS threads = OpenMP threads = T\n")
    out.write(f"{'T':>2} {'shape':17s} {'mode':8s} {'cython ms':>10s} {'numpy ms':>10s} {'x numpy':>8s} "
              f"{'GFLOP/s':>8s} {'sgemm same-shape GF/s':>22s} {'% roof':>7s} {'sgemm 2048^3':>13s}\n")
    for nt, name, mode, tc, tn, ts, fl, peak in rows:
        roof = f"{fl / ts / 1e9:22.1f} {100 * ts / tc:6.0f}%" if ts else f"{'-':>22s} {'-':>7s}"
        out.write(f"{nt:2d} {name:17s} {mode:8s} {tc * 1e3:10.2f} {tn * 1e3:10.2f} {tn / tc:8.1f} "
                  f"{fl / tc / 1e9:8.1f} {roof} {peak / 1e9:13.1f}\n")
    scal = {(name, mode): tc for nt, name, mode, tc, *_ in rows if nt == 1}
    if any(nt == 2 for nt, *_ in rows):
        out.write("\n2-thread speed-up of the Cython kernels (t1 / t2):\n")
        for nt, name, mode, tc, *_ in rows:
            if nt == 2 and (name, mode) in scal:
                out.write(f"   {name:17s} {mode:8s} {scal[name, mode] / tc:5.2f}x\n")


if __name__ == "__main__":
    print_table(ratio_table(names=sys.argv[1:] or None))
