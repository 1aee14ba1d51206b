# Loops over a run of n values (gcc vectorises each), and the fixed-order sum of per-thread partials.
from cython cimport floating


cdef inline void copy_run(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        dst[i] = src[i]


cdef inline void zero_run(floating* dst, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        dst[i] = 0


cdef inline void add_run(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        dst[i] += src[i]


cdef inline void fma_run(floating* dst, const floating* a, const floating* b, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        dst[i] += a[i] * b[i]


cdef inline void gather_run(floating* dst, const floating* src, Py_ssize_t step, Py_ssize_t n) noexcept nogil:
    """dst[i] = src[i * step]."""
    cdef Py_ssize_t i
    if step == 1:
        copy_run(dst, src, n)
    else:
        for i in range(n):
            dst[i] = src[i * step]


cdef inline void scatter_add_run(floating* dst, Py_ssize_t step, const floating* src,
                                 Py_ssize_t n) noexcept nogil:
    """dst[i * step] += src[i]."""
    cdef Py_ssize_t i
    if step == 1:
        add_run(dst, src, n)
    else:
        for i in range(n):
            dst[i * step] += src[i]


cdef inline void sum_slots(floating* slots, Py_ssize_t size, int nslots, floating* a, Py_ssize_t a_size,
                           floating* b) noexcept nogil:
    """Add up ``nslots`` partial sums of ``size`` values, in slot order; the first ``a_size``
    values go to ``a``, the rest to ``b`` (either may be NULL when it has no values)."""
    cdef Py_ssize_t t
    for t in range(1, nslots):
        add_run(slots, slots + t * size, size)
    copy_run(a, slots, a_size)
    copy_run(b, slots + a_size, size - a_size)
