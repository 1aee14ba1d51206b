"""Alternating, warmed-up, median timing of several implementations of one case."""
import statistics
import time


def calibrate(fn, target_s):
    """Calls per sample so one sample lasts about ``target_s`` (fast ops are batched)."""
    start = time.perf_counter()
    fn()
    elapsed = max(time.perf_counter() - start, 1e-7)
    return max(1, int(target_s / elapsed))


def compare(fns, rounds=7, warmup=2, target_s=0.05, setup=None):
    """Median seconds per call of each function, measured round-robin.

    Alternating A, B, C, A, B, C… spreads the machine's noise (other
    processes, frequency changes) evenly over the implementations, so their
    ratios hold even where absolute times do not.  ``setup[name]``, when
    given, runs untimed before each of that function's samples (to switch a
    thread count, say).
    """
    setup = setup or {}

    def prepare(name):
        if name in setup:
            setup[name]()

    for name, fn in fns.items():
        prepare(name)
        for _ in range(warmup):
            fn()
    inner = {}
    for name, fn in fns.items():
        prepare(name)
        inner[name] = calibrate(fn, target_s)
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            prepare(name)
            start = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / inner[name])
    return {name: statistics.median(s) for name, s in samples.items()}
