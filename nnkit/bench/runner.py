"""Run benchmark cases on every implementation, side by side, per thread count.

The NumPy reference runs its BLAS at the row's thread count (nnkit keeps the
BLAS pools at one thread for its own kernels, which split GEMMs over OpenMP
instead), so the reference column is an honest multi-threaded NumPy.
PyTorch, onnxruntime and JAX run in worker processes of their own, pinned to
the row's cores (``nnkit.bench.worker``); a short pause after each sample lets the
idle OpenMP workers of the framework just timed stop spinning before the
next one starts.
"""
import contextlib
import importlib.util

from threadpoolctl import threadpool_limits

import nnkit
import nnkit.threads
from nnkit.bench.roofline import sgemm_gflops
from nnkit.bench.timing import compare
from nnkit.bench.case_worker import IN_WORKERS, CaseWorker, torch_available

__all__ = ["run", "run_case", "run_scaling", "table", "torch_available", "HEADER", "format_row"]

# Seconds of pause after each sample: GNU OpenMP's idle workers spin for up to a few milliseconds
# (GOMP_SPINCOUNT, 300,000 spins by default) before they sleep.
COOLDOWN_S = 0.02
# ... and after a NumPy reference sample on more than one thread: OpenBLAS's idle workers spin 2**28 cycles
# (about 0.1 s) before they sleep.  With 0.02 s they took a core from the sample after (PyTorch's), which then
# ran 2-8x slower at 2 threads than on its own.
OPENBLAS_COOLDOWN_S = 0.25


def _nnkit_step(case, backend):
    """The nnkit step, run with ``backend`` active (it is chosen per call, outside the timing)."""
    nnkit.set_backend(backend)
    step = case.nnkit(backend)

    def run():
        nnkit.set_backend(backend)
        step()
    return run


def run_case(case, rounds, workers=None, with_numpy=True):
    """Median seconds per step of each implementation of ``case`` at nnkit's current thread count."""
    fns = {"nnkit": _nnkit_step(case, "cython")}
    n = nnkit.get_num_threads()
    setup = {"nnkit": lambda: threadpool_limits(limits=1, user_api="blas")}
    if with_numpy:
        fns["numpy"] = _nnkit_step(case, "numpy")
        setup["numpy"] = lambda: threadpool_limits(limits=n, user_api="blas")
    workers = workers or {}
    if "torch" in workers and case.torch is not None:
        step = workers["torch"].step(case)  # None for a case outside ``nnkit bench``'s (the worker finds none)
        if step is not None:
            fns["torch"] = step
    for name, factory in case.others.items():
        if name in IN_WORKERS:
            step = workers[name].step(case) if name in workers else None
        else:
            step = factory(n)
        if step is not None:
            fns[name] = step
    try:
        cooldown = {name: COOLDOWN_S for name in fns}
        if with_numpy and n > 1:
            cooldown["numpy"] = OPENBLAS_COOLDOWN_S
        return compare(fns, rounds=rounds, setup=setup, cooldown_s=cooldown)
    finally:
        threadpool_limits(limits=1, user_api="blas")
        nnkit.set_backend("cython")
        for fn in fns.values():
            getattr(fn, "close", lambda: None)()  # worker processes (JAX) end with their case


def run(cases, threads=(1, 2), rounds=7, with_torch=None, with_numpy=True, progress=print):
    """Return one result row (a dict) per case and thread count.

    nnkit runs a fixed team here (``nnkit.threads.set_dynamic(False)``): a row's thread count is what it
    says, however busy the machine (the adaptive team's own rows come from ``nnkit.bench.manners``).
    """
    with_torch = torch_available() if with_torch is None else with_torch
    with fixed_team():
        return _run(cases, threads, rounds, with_torch, with_numpy, progress)


def table(cases, threads=(1, 2), rounds=7):
    """Print ``nnkit bench``'s table for ``cases`` (a script's; the ``nnkit bench`` command adds its JSON)."""
    print(HEADER)
    return run(cases, threads=threads, rounds=rounds)


@contextlib.contextmanager
def fixed_team():
    dynamic = nnkit.threads.get_dynamic()
    nnkit.threads.set_dynamic(False)
    try:
        yield
    finally:
        nnkit.threads.set_dynamic(dynamic)


def _run(cases, threads, rounds, with_torch, with_numpy, progress):
    rows = []
    for n in threads:
        nnkit.set_num_threads(n)
        roof = sgemm_gflops(n)
        progress(f"threads={n}: sgemm roofline {roof:.1f} GFLOP/s")
        workers = _workers(cases, n, with_torch)
        try:
            rows += _rows(cases, n, roof, rounds, workers, with_numpy, progress)
        finally:
            for worker in workers.values():
                worker.close()
    return rows


def _workers(cases, threads, with_torch):
    """A worker per framework that some case needs and that is installed."""
    wanted = {name for case in cases for name in case.others if name in IN_WORKERS}
    if with_torch and any(case.torch is not None for case in cases):
        wanted.add("torch")
    return {name: CaseWorker(name, threads) for name in sorted(wanted)
            if importlib.util.find_spec(name) is not None}


def _rows(cases, n, roof, rounds, workers, with_numpy, progress):
    rows = []
    for case in cases:
        times = run_case(case, rounds, workers, with_numpy)
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
        with fixed_team():
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

