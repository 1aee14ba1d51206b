"""Run benchmark cases on every implementation, side by side, per thread count.

The NumPy reference runs its BLAS at the row's thread count (nnkit keeps the
BLAS pools at one thread for its own kernels, which split GEMMs over OpenMP
instead), so the reference column is an honest multi-threaded NumPy.
"""
from threadpoolctl import threadpool_limits

import nnkit
from nnkit.bench.roofline import sgemm_gflops
from nnkit.bench.timing import compare


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def set_threads(n, with_torch):
    nnkit.set_num_threads(n)
    if with_torch:
        import torch
        torch.set_num_threads(n)


def _nnkit_step(case, backend):
    """The nnkit step, run with ``backend`` active (it is chosen per call, outside the timing)."""
    nnkit.set_backend(backend)
    step = case.nnkit(backend)

    def run():
        nnkit.set_backend(backend)
        step()
    return run


def run_case(case, rounds, with_torch, with_numpy=True):
    fns = {"nnkit": _nnkit_step(case, "cython")}
    n = nnkit.get_num_threads()
    setup = {"nnkit": lambda: threadpool_limits(limits=1, user_api="blas")}
    if with_numpy:
        fns["numpy"] = _nnkit_step(case, "numpy")
        setup["numpy"] = lambda: threadpool_limits(limits=n, user_api="blas")
    if with_torch and case.torch is not None:
        fns["torch"] = case.torch()
    for name, factory in case.others.items():
        step = factory(n)
        if step is not None:
            fns[name] = step
    try:
        return compare(fns, rounds=rounds, setup=setup)
    finally:
        threadpool_limits(limits=1, user_api="blas")
        nnkit.set_backend("cython")
        for fn in fns.values():
            getattr(fn, "close", lambda: None)()  # worker processes (JAX) end with their case


def run(cases, threads=(1, 2), rounds=7, with_torch=None, with_numpy=True, progress=print):
    """Return one result row (a dict) per case and thread count."""
    with_torch = torch_available() if with_torch is None else with_torch
    rows = []
    for n in threads:
        set_threads(n, with_torch)
        roof = sgemm_gflops(n)
        progress(f"threads={n}: sgemm roofline {roof:.1f} GFLOP/s")
        for case in cases:
            times = run_case(case, rounds, with_torch, with_numpy)
            t = times["nnkit"]
            row = {
                "case": case.name, "group": case.group, "threads": n,
                "ms": t * 1e3, "items_per_s": case.items / t,
                "gflops": case.flops / t / 1e9 if case.flops else None,
                "sgemm_gflops": roof,
                "roofline": (case.flops / t / 1e9) / roof if case.flops and case.gemm_bound else None,
                "vs_numpy": times["numpy"] / t if "numpy" in times else None,
                "vs_torch": times["torch"] / t if "torch" in times else None,
                "vs_onnxruntime": times["onnxruntime"] / t if "onnxruntime" in times else None,
                "vs_jax": times["jax"] / t if "jax" in times else None,
                "times_ms": {k: v * 1e3 for k, v in times.items()},
            }
            rows.append(row)
            progress(format_row(row))
    return rows


def run_scaling(cases, threads, rounds=7, progress=print):
    """nnkit's speed-up at each thread count over its time at ``threads[0]``.

    The thread counts alternate round by round within each case (as ``compare``
    alternates implementations), so the machine's drift does not land on one
    count: on a shared VM, rows timed minutes apart differ by 20 % or more.
    """
    rows, previous = [], nnkit.get_num_threads()
    progress(f"{'scaling (nnkit, alternating thread counts)':<46} " + " ".join(f"{n:>7}T" for n in threads))
    try:
        for case in cases:
            step = _nnkit_step(case, "cython")
            times = compare({n: step for n in threads}, rounds=rounds,
                            setup={n: (lambda n=n: nnkit.set_num_threads(n)) for n in threads})
            row = {"case": case.name, "group": case.group,
                   "ms": {n: times[n] * 1e3 for n in threads},
                   "speedup": {n: times[threads[0]] / times[n] for n in threads}}
            rows.append(row)
            progress(f"{case.name:<46} " + " ".join(f"{row['speedup'][n]:>7.2f}x" for n in threads))
    finally:
        nnkit.set_num_threads(previous)
    return rows


def _fmt(value, spec, suffix=""):
    return "-" if value is None else format(value, spec) + suffix


HEADER = (f"{'case':<46} {'thr':>3} {'ms':>9} {'items/s':>10} {'GFLOP/s':>8} {'x numpy':>8} {'x torch':>8} "
          f"{'x jax':>8} {'x ortrt':>8} {'roofline':>8}")


def format_row(row):
    return (f"{row['case']:<46} {row['threads']:>3} {row['ms']:>9.3f} {row['items_per_s']:>10.0f} "
            f"{_fmt(row['gflops'], '8.1f')} {_fmt(row['vs_numpy'], '7.2f', 'x')} "
            f"{_fmt(row['vs_torch'], '7.2f', 'x')} {_fmt(row.get('vs_jax'), '7.2f', 'x')} "
            f"{_fmt(row.get('vs_onnxruntime'), '7.2f', 'x')} "
            f"{_fmt(row['roofline'] and row['roofline'] * 100, '7.0f', '%')}")

