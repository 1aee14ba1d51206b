"""Other frameworks' steps in worker processes of their own, pinned to the row's cores.

An OpenMP runtime keeps its idle workers spinning for a while after each
parallel region; two runtimes in one process (PyTorch bundles its own libgomp)
spin on each other's cores, and a 2-thread ratio measures that fight rather
than either framework.  So each foreign framework runs in a child process
started with its CPU affinity limited to the row's thread count (every thread
its runtime creates inherits it), and builds its step there.

The parent talks to a worker over a pipe, one line each way:
``run K`` runs the step K times and answers the seconds they took, timed
inside the worker, so the pipe's round trip (tens of microseconds, a real
share of a batch-1 inference) stays out of the comparison; ``use NAME``
(for scripts that define ``make(name)``) builds another case's step in the
same worker, which saves a start-up per case.  A step returned
here has ``timed(k)``, which ``nnkit.bench.timing.compare`` uses in place of
timing k calls itself; calling the step runs it once (warm-up).
"""
import atexit
import os
import subprocess
import sys

import nnkit

# A child runs "python -c": the first place it imports from is its working directory.  Started from the
# directory holding the nnkit this process runs, it imports the same one (not, say, the unbuilt sources of a
# checkout the parent was started in, beside an installed nnkit).
NNKIT_HOME = os.path.dirname(os.path.dirname(os.path.abspath(nnkit.__file__)))

__all__ = ["Worker", "SERVE", "NNKIT_HOME"]

# The loop every worker script ends with: it defines ``step()`` or ``make(name) -> step or None`` first.
SERVE = r'''
import sys as _sys, time as _time
_sys.stdout.write("ready\n")
_sys.stdout.flush()
for _line in _sys.stdin:
    _command, _, _arg = _line.rstrip("\n").partition(" ")
    if _command == "use":
        step = make(_arg)
        _sys.stdout.write("ready\n" if step is not None else "none\n")
        _sys.stdout.flush()
        continue
    _k = int(_arg)
    _start = _time.perf_counter()
    for _ in range(_k):
        step()
    _sys.stdout.write(f"{_time.perf_counter() - _start!r}\n")
    _sys.stdout.flush()
'''

_live = []


def _stop_all():
    for worker in list(_live):
        worker.close()


class Worker:
    """A child running ``script`` (Python source ending in ``SERVE``) with ``args`` on ``threads`` cores.

    ``env`` adds to the environment.  Raises RuntimeError when the child does not come up.
    """

    def __init__(self, script, args, threads, env=None, what="worker"):
        cores = sorted(os.sched_getaffinity(0))[:threads] if hasattr(os, "sched_getaffinity") else None
        self.proc = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
                                     cwd=NNKIT_HOME,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"nnkit bench: the {what} did not start")
        if not _live:
            atexit.register(_stop_all)
        _live.append(self)

    def use(self, name):
        """Build case ``name``'s step in the worker; False when the worker has none for it."""
        self.proc.stdin.write(f"use {name}\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip() == "ready"

    def timed(self, k):
        """Seconds the worker took for ``k`` steps."""
        self.proc.stdin.write(f"run {k}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def step(self, close=True):
        """A zero-argument step (one run) with ``timed`` attached, and ``close`` when the step owns the worker."""
        def run():
            self.timed(1)
        run.timed = self.timed
        if close:
            run.close = self.close
        return run

    def close(self):
        if self in _live:
            _live.remove(self)
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
