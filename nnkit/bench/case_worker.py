"""PyTorch's and onnxruntime's columns of ``nnkit bench``, in worker processes of their own.

PyTorch bundles its own GNU OpenMP runtime and onnxruntime its own spinning
thread pool; in nnkit's process their idle workers spun on the cores nnkit's
kernels needed (and nnkit's on theirs), so 2-thread ratios measured the
fight.  One worker per framework and thread count (``nnkit.bench.worker``:
pinned to that many cores, timed inside) builds each case's step in turn:
``Case.torch()`` for PyTorch, ``Case.others[framework](threads)`` for the
others.  It imports nnkit only to find the cases, with nnkit's heap setting
off (``NNKIT_KEEP_HEAP=0``) so that those frameworks run with glibc's
defaults, as their users have them.
"""
import importlib.util

from nnkit.bench.worker import SERVE, Worker

__all__ = ["torch_available", "CaseWorker", "IN_WORKERS"]

IN_WORKERS = ("torch", "onnxruntime")  # the frameworks a CaseWorker runs (JAX starts workers of its own)

WORKER = r'''
import sys
framework, threads = sys.argv[1], int(sys.argv[2])
if framework == "torch":
    import torch
    torch.set_num_threads(threads)
from nnkit.bench.cli import all_cases

cases = {case.name: case for case in all_cases()}
step = None


def make(name):
    case = cases.get(name)
    if case is None:
        return None
    if framework == "torch":
        return None if case.torch is None else case.torch()
    factory = case.others.get(framework)
    return None if factory is None else factory(threads)
''' + SERVE


def torch_available():
    """Whether PyTorch is installed (found, not imported: it stays out of this process)."""
    return importlib.util.find_spec("torch") is not None


class CaseWorker:
    """``framework``'s steps of every case at one thread count; ``step(case)`` is None where a case has none."""

    def __init__(self, framework, threads):
        env = {"NNKIT_KEEP_HEAP": "0", "NNKIT_NUM_THREADS": "1"}
        self.worker = Worker(WORKER, [framework, threads], threads, env, f"{framework} worker ({threads} threads)")

    def step(self, case):
        if not self.worker.use(case.name):
            return None
        return self.worker.step(close=False)

    def close(self):
        self.worker.close()
