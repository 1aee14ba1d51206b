"""Explaining and loss-landscape benchmarks on LeNet-5 (float32, 28x28x1).

pytest-benchmark cases (``python -m pytest benchmarks/test_bench_explain.py``;
``--benchmark-disable`` runs each once as a smoke test)::

    {train step, lrp EpsilonPlus, lrp EpsilonGammaBox, lrp Epsilon, gradient x input} on 64 images,
    one loss-surface point (evaluate) on 1,000 images

Side by side (``python benchmarks/test_bench_explain.py``): each case against
one training step of the same batch, timed round-robin in one run (warmed up,
medians) at 1 and 2 threads, then one 21x21 surface on 1,000 images.
"""
import os
import platform
import time

import numpy as np
import pytest

import nnkit
from nnkit import explain, landscape
from nnkit._ext import threads
from nnkit.bench.timing import compare


def lenet(seed=0):
    nnkit.set_seed(seed)
    model = nnkit.models.lenet5()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, n)


def cases():
    """Case name -> a no-argument callable (the model and data built once)."""
    model = lenet()
    x, y = data(64)
    x_eval, y_eval = data(1000, seed=1)
    comp = {"EpsilonPlus": explain.composites.EpsilonPlus(),
            "EpsilonGammaBox": explain.composites.EpsilonGammaBox(0.0, 1.0)}
    out = {"train step 64": lambda: model.train_on_batch(x, y)}
    out.update({f"lrp {name} 64": (lambda c=c: explain.lrp(model, x, composite=c)) for name, c in comp.items()})
    out["lrp Epsilon 64"] = lambda: explain.lrp(model, x, rule=explain.rules.Epsilon())
    out["gradient x input 64"] = lambda: explain.gradient_x_input(model, x)
    out["surface point 1000"] = lambda: model.evaluate(x_eval, y_eval, batch_size=1000, verbose=0)
    return out


CASES = cases()


@pytest.mark.parametrize("name", list(CASES))
def test_explain(benchmark, name):
    benchmark.extra_info.update(omp_threads=threads.get_num_threads(), machine=platform.processor())
    benchmark(CASES[name])


def surface_21x21(model):
    x, y = data(1000, seed=1)
    d1, d2 = landscape.random_direction(model, seed=1), landscape.random_direction(model, seed=2)
    xs = np.linspace(-1, 1, 21)
    start = time.perf_counter()
    landscape.surface(model, [d1, d2], (xs, xs), x, y, progress=False)  # batches of 1,000
    return time.perf_counter() - start


if __name__ == "__main__":
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs; float32; medians")
    before = threads.get_num_threads()
    try:
        for n in (1, 2):
            threads.set_num_threads(n)
            t = compare(CASES, rounds=7)
            step = t["train step 64"]
            for name, s in t.items():
                print(f"{n:2d} threads  {name:28s} {s * 1e3:9.2f} ms  {s / step:5.2f} x train step")
        threads.set_num_threads(2)
        print(f" 2 threads  21x21 surface, 1000 images   {surface_21x21(lenet()):9.2f} s")
    finally:
        threads.set_num_threads(before)
