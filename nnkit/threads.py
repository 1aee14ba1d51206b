"""One thread pool for everything: OpenMP.

numpy and scipy each bundle an OpenBLAS with its own thread pool; the Cython
kernels run on OpenMP and split every GEMM into one single-threaded BLAS call
per OpenMP thread.  ``set_num_threads(n)`` therefore gives OpenMP ``n`` threads
and the BLAS pools one: a second pool of idle-spinning BLAS threads would
steal the cores the kernels need (measured: a LeNet-5 training step several
times slower).  The BLAS pools stay at one thread for NumPy code outside
nnkit too; ``threadpoolctl`` changes that back where wanted.
``NNKIT_NUM_THREADS`` sets the start-up value (default: the available cores).

Good manners on a busy machine.  An idle OpenMP worker spins for a while
before it sleeps, so that the next parallel region starts at once; when
another process keeps a core busy, the workers wait for that core and spin
on the one the other process needs: with one busy process on two cores, a
2-thread LeNet-5 step ran at 0.43x of the 1-thread speed.  No fixed spin
setting is right for both a quiet and a busy machine (passive waiting costs
a third of a small step's speed on a quiet one).  So the team adapts
(``team()``, the one rule every kernel family follows): every 0.2 s of
kernel calls, nnkit reads how many of its cores other processes kept busy
(``nnkit.cpu_load``); at half a core or more, the kernels run on the cores
left (rounded, at least one, never more than ``set_num_threads`` asked
for), and back on all of them once the others are gone.  A quiet machine
pays one read of ``/proc/stat`` per 0.2 s.  ``set_dynamic(False)`` or
``NNKIT_DYNAMIC_THREADS=0`` keeps the team at ``set_num_threads``'s count.

Fork.  A child forked after the kernels ran (``os.fork``, ``multiprocessing``'s
fork start method, data-loading workers) runs the kernels on one thread, as
PyTorch does: N workers times N threads would only fight over the cores.  A
child that wants more asks with ``set_num_threads``.  GNU OpenMP would hang
the child at its first parallel kernel, waiting for the parent's worker threads,
which a child does not inherit; so the forking thread's workers are stopped
just before every fork and started again by the parent's next kernel.
"""
import os
import sys
import time

from threadpoolctl import threadpool_limits

from nnkit.cpu_load import LoadProbe

PROBE_S = 0.2  # seconds between two readings of the machine's load
STALE_S = 1.0  # a reading older than this (no kernel ran meanwhile) starts a new window instead
BUSY_CORES = 0.5  # other processes' load, in cores, from which the team gives cores up

_num_threads = None  # what set_num_threads asked for
_team = None  # what the kernels run on now (fewer while the machine is busy)
_dynamic = os.environ.get("NNKIT_DYNAMIC_THREADS", "1").strip().lower() not in ("0", "false", "no", "off")
_probe = LoadProbe()
_last_probe = -float("inf")


def available_cores():
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_num_threads(n):
    """Run the nnkit kernels on ``n`` OpenMP threads (the BLAS pools on one)."""
    global _num_threads, _team
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    import scipy.linalg.cython_blas  # noqa: F401  loads scipy's BLAS so threadpoolctl sees it
    from nnkit._ext import threads as omp

    omp.set_num_threads(n)
    omp.flush_denormals()  # new OpenMP workers start with the default FP mode
    threadpool_limits(limits=1, user_api="blas")
    _num_threads = _team = n
    _restart_probe()


def team():
    """The thread count for the next kernel: ``get_num_threads()``, or fewer while other processes keep
    cores busy (the module's docstring has the rule)."""
    if _num_threads is None:
        init_from_env()
    if _dynamic and _num_threads > 1:
        now = time.monotonic()
        if now - _last_probe >= PROBE_S:
            _reconsider(now)
    return _team


def team_above(work, min_work):
    """``team()`` for a kernel call of ``work`` units, or 1 below ``min_work`` (waking the team would cost more
    than it saves): every kernel wrapper's thread count, each with its family's threshold."""
    return team() if work >= min_work else 1


def team_for(n, cores, others_busy):
    """The rule: ``n`` threads asked for, ``cores`` available, ``others_busy`` cores used by other processes."""
    if others_busy < BUSY_CORES:
        return n
    return max(1, min(n, int(cores - others_busy + 0.5)))


def set_dynamic(flag):
    """Let the team shrink while the machine is busy (True, the default) or keep it fixed (False)."""
    global _dynamic
    _dynamic = bool(flag)
    if _num_threads is not None:
        _use_team(_num_threads)
        _restart_probe()


def get_dynamic():
    return _dynamic


def _restart_probe():
    global _last_probe
    _last_probe = time.monotonic()
    _probe.reset()


def _reconsider(now):
    global _last_probe
    stale, _last_probe = now - _last_probe > STALE_S, now
    if stale:  # the process sat idle: what others did meanwhile says little about now
        _probe.reset()
        return
    others = _probe.others_busy()
    if others is not None:
        _use_team(team_for(_num_threads, len(_probe.cpus), others))


def _use_team(n):
    global _team
    if n != _team:
        from nnkit._ext import threads as omp
        omp.set_num_threads(n)  # parallel regions that name no team (BLAS-free helpers) read OpenMP's count
        if n > _team:
            omp.flush_denormals()
        _team = n


def get_num_threads():
    """The thread count in use."""
    if _num_threads is None:
        init_from_env()
    return _num_threads


def init_from_env():
    value = os.environ.get("NNKIT_NUM_THREADS")
    if value is None:
        set_num_threads(available_cores())
        return
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"NNKIT_NUM_THREADS must be a positive integer, got {value!r}") from None
    set_num_threads(n)


def _before_fork():
    omp = sys.modules.get("nnkit._ext.threads")
    if omp is not None:  # never imported: no OpenMP worker exists yet
        omp.release_pool()


def _after_fork_in_child():
    global _num_threads, _team, _probe
    _probe = LoadProbe()  # the child's own CPU time starts at zero
    omp = sys.modules.get("nnkit._ext.threads")
    if omp is not None:
        omp.set_num_threads(1)
        _num_threads = _team = 1


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
