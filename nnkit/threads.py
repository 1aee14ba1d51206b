"""One thread pool for everything: OpenMP.

numpy and scipy each bundle an OpenBLAS with its own thread pool; the Cython
kernels run on OpenMP and split every GEMM into one single-threaded BLAS call
per OpenMP thread.  ``set_num_threads(n)`` therefore gives OpenMP ``n`` threads
and the BLAS pools one: a second pool of idle-spinning BLAS threads would
steal the cores the kernels need (measured: a LeNet-5 training step several
times slower).  The BLAS pools stay at one thread for NumPy code outside
nnkit too; ``threadpoolctl`` changes that back where wanted.
``NNKIT_NUM_THREADS`` sets the start-up value (default: the available cores).

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

from threadpoolctl import threadpool_limits

_num_threads = None


def available_cores():
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_num_threads(n):
    """Run the nnkit kernels on ``n`` OpenMP threads (the BLAS pools on one)."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    import scipy.linalg.cython_blas  # noqa: F401  loads scipy's BLAS so threadpoolctl sees it
    from nnkit._ext import threads as omp

    omp.set_num_threads(n)
    omp.flush_denormals()  # new OpenMP workers start with the default FP mode
    threadpool_limits(limits=1, user_api="blas")
    _num_threads = n


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
    global _num_threads
    omp = sys.modules.get("nnkit._ext.threads")
    if omp is not None:
        omp.set_num_threads(1)
        _num_threads = 1


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
