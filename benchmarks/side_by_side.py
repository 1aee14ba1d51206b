"""The per-family ratio tables of ``python benchmarks/test_bench_<family>.py``:
Cython against the NumPy reference at each thread count, every variant of a
case timed round-robin in one ``compare`` (warmed up, medians), so the
machine's noise spreads evenly over all of them.  (``nnkit bench`` is the
whole-engine table, PyTorch included.)"""
import os
import platform

from nnkit._ext import threads
from nnkit.bench.timing import compare


def _at(n_threads, fn):
    def run():
        threads.set_num_threads(n_threads)
        fn()
    return run


def ratio_table(cases, thread_counts=(1, 2), rounds=9):
    """Rows (threads, case, t_cython, t_numpy) in seconds for ``{case: {backend: fn}}``."""
    before = threads.get_num_threads()
    rows = []
    try:
        for case, fns in cases.items():
            t = compare({(b, n): _at(n, fn) for b, fn in fns.items() for n in thread_counts}, rounds=rounds)
            rows += [(n, case, t["cython", n], t["numpy", n]) for n in thread_counts]
    finally:
        threads.set_num_threads(before)
    return sorted(rows, key=lambda row: row[0])


def print_table(rows):
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs; float32")
    print(f"{'T':>2} {'case':40s} {'cython ms':>10s} {'numpy ms':>10s} {'x numpy':>8s}")
    for nt, case, tc, tn in rows:
        print(f"{nt:2d} {case:40s} {tc * 1e3:10.3f} {tn * 1e3:10.3f} {tn / tc:8.1f}")
    one = {case: tc for nt, case, tc, _ in rows if nt == 1}
    print("Cython speed-up over its 1-thread time:")
    for nt, case, tc, _ in rows:
        if nt > 1 and case in one:
            print(f"{nt:2d} {case:40s} {one[case] / tc:5.2f}x")
