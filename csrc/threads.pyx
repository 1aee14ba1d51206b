"""OpenMP thread control and the denormal switch for the worker threads."""
cimport openmp
from cython.parallel cimport parallel

from denormal cimport nnkit_flush_denormals


def set_num_threads(int n):
    """Set the OpenMP thread count used by every nnkit kernel."""
    openmp.omp_set_num_threads(n)


cdef extern from *:
    """
    /* GNU OpenMP keeps each master thread's workers in a pool that a forked child
       inherits without its threads: the child's next parallel region waits for them
       forever.  Releasing the pool before fork (OpenMP 5.0's pause, which libgomp
       implements for the calling thread's pool) leaves the child none to wait for.
       LLVM's and Intel's runtimes reset themselves in the child; MSVC has no fork. */
    #if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 9 && !defined(_WIN32)
    #include <omp.h>
    static int nnkit_release_omp_pool(void) { return omp_pause_resource_all(omp_pause_hard); }
    #else
    static int nnkit_release_omp_pool(void) { return 0; }
    #endif
    """
    int nnkit_release_omp_pool() nogil


def release_pool():
    """Stop this thread's OpenMP workers (the next parallel region starts new ones); call before fork.

    Returns 0 on success (or where the runtime needs no help), nonzero where the runtime refused.
    """
    return nnkit_release_omp_pool()


def get_num_threads():
    """Return the OpenMP thread count used by every nnkit kernel."""
    return openmp.omp_get_max_threads()


def flush_denormals():
    """Turn on flush-to-zero / denormals-are-zero on every OpenMP worker thread (the pool is persistent,
    so once is enough); the calling thread keeps its own floating-point mode."""
    with nogil, parallel():
        nnkit_flush_denormals()


cdef extern from *:
    """
    #ifndef NNKIT_DEBUG_BUILD
    #define NNKIT_DEBUG_BUILD 0
    #endif
    """
    int NNKIT_DEBUG_BUILD


def is_debug_build():
    """True when compiled with NNKIT_DEBUG=1 (bounds checking and wraparound on)."""
    return bool(NNKIT_DEBUG_BUILD)
