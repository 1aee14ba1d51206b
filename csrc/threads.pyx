"""OpenMP thread control and the denormal switch for the worker threads."""
cimport openmp
from cython.parallel cimport parallel

from denormal cimport nnkit_flush_denormals


def set_num_threads(int n):
    """Set the OpenMP thread count used by every nnkit kernel."""
    openmp.omp_set_num_threads(n)


def get_num_threads():
    """Return the OpenMP thread count used by every nnkit kernel."""
    return openmp.omp_get_max_threads()


def flush_denormals():
    """Turn on flush-to-zero / denormals-are-zero on this thread and on every
    OpenMP worker thread (the pool is persistent, so once is enough)."""
    nnkit_flush_denormals()
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
