# How an OpenMP loop over a flat range of elements is shared out.
cimport openmp


cdef inline int team_size(Py_ssize_t elements, Py_ssize_t min_elements) noexcept nogil:
    """All the threads, or just the calling one below ``min_elements`` (waking the team would cost more than
    it saves)."""
    return openmp.omp_get_max_threads() if elements >= min_elements else 1


cdef inline Py_ssize_t share(Py_ssize_t n, int t, int team) noexcept nogil:
    """Where thread t's contiguous share of n elements starts (``share(n, team, team) == n``)."""
    return n * t // team
