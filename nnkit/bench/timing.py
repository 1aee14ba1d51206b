"""Alternating, warmed-up, median timing of several implementations of one case."""
import statistics
import time


def timed(fn, k):
    """Seconds for ``k`` calls of ``fn``; a step that times itself (a worker process's, ``fn.timed``) says."""
    own = getattr(fn, "timed", None)
    if own is not None:
        return own(k)
    start = time.perf_counter()
    for _ in range(k):
        fn()
    return time.perf_counter() - start


def calibrate(fn, target_s):
    """Calls per sample so one sample lasts about ``target_s`` (fast ops are batched)."""
    return max(1, int(target_s / max(timed(fn, 1), 1e-7)))


def compare(fns, rounds=7, warmup=2, target_s=0.05, setup=None, cooldown_s=0.0):
    """Median seconds per call of each function, measured round-robin.

    Alternating A, B, C, A, B, C… spreads the machine's noise (other
    processes, frequency changes) evenly over the implementations, so their
    ratios hold even where absolute times do not.  ``setup[name]``, when
    given, runs untimed before each of that function's samples (to switch a
    thread count, say); ``cooldown_s`` of sleep follows each sample, untimed (one number for every
    function, or a dict by name).
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
            samples[name].append(timed(fn, inner[name]) / inner[name])
            pause = cooldown_s.get(name, 0.0) if isinstance(cooldown_s, dict) else cooldown_s
            if pause:
                time.sleep(pause)
    return {name: statistics.median(s) for name, s in samples.items()}
