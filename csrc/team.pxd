# How an OpenMP loop over a flat range of elements is shared out.  The team's size comes from the
# Python wrapper (nnkit.threads.team() and the op's threshold), never from the kernel itself.
cimport openmp


cdef inline Py_ssize_t share_start(Py_ssize_t n) noexcept nogil:
    """Where the calling thread's contiguous share of n elements starts, inside a parallel region.

    Shares are cut by the team OpenMP actually started, which may be smaller than the one asked for
    (OMP_THREAD_LIMIT, OMP_DYNAMIC, nested regions): cutting by the requested size would skip elements.
    """
    return n * openmp.omp_get_thread_num() // openmp.omp_get_num_threads()


cdef inline Py_ssize_t share_stop(Py_ssize_t n) noexcept nogil:
    """Where the calling thread's share of n elements ends (see ``share_start``)."""
    return n * (openmp.omp_get_thread_num() + 1) // openmp.omp_get_num_threads()
