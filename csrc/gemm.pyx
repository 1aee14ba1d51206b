"""Matrix products split over OpenMP threads, each calling a single-threaded BLAS.

nnkit keeps one thread pool: OpenMP.  A GEMM is cut into one block of output
rows or columns per thread, and every block is one BLAS call.  Each call packs
its own copy of the operand it shares with the others (all of B for a block
of rows, all of A for a block of columns), so the longer output side is the
one cut: a dense layer's (64 x 512) output split by rows spent 20 % of its
time packing the 784 x 512 weight twice.  No BLAS thread pool runs beside the
OpenMP one, so no idle pool spins on the cores the kernels need.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange

from blas cimport gemm, set_blas_int_max, use_blas
from denormal cimport nnkit_flush_denormals
from team cimport share_start, share_stop


cdef void _blocked_gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                        const floating* a, const floating* b, floating* c, floating beta,
                        int nthreads) noexcept nogil:
    cdef Py_ssize_t lda = m if trans_a else k
    cdef Py_ssize_t ldb = k if trans_b else n
    cdef bint by_rows = m >= n
    cdef Py_ssize_t total = m if by_rows else n
    cdef Py_ssize_t start, stop
    with parallel(num_threads=nthreads):
        nnkit_flush_denormals()
        start = share_start(total)  # cut by the team OpenMP started, which may be smaller than asked
        stop = share_stop(total)
        if stop > start:
            if by_rows:  # rows [start, stop) of op(a) and of c
                gemm(trans_a, trans_b, (stop - start), n, k, 1,
                     a + (start if trans_a else start * lda), lda,
                     b, ldb, beta, c + start * n, n)
            else:  # columns [start, stop) of op(b) and of c
                gemm(trans_a, trans_b, m, (stop - start), k, 1,
                     a, lda, b + (start * ldb if trans_b else start), ldb,
                     beta, c + start, n)


def matmul(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] c,
           bint trans_a, bint trans_b, bint accumulate, int nthreads):
    """c = op(a) @ op(b) (+ c when ``accumulate``), op = transpose where asked.

    Parameters
    ----------
    a, b : C-contiguous 2-D arrays, IN; ``op(a)`` is (M, K), ``op(b)`` is (K, N)
    c : C-contiguous (M, N), OUT (read too when ``accumulate``)
    nthreads : OpenMP threads; the caller keeps the BLAS single-threaded
    """
    cdef Py_ssize_t m = c.shape[0], n = c.shape[1]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    cdef floating beta = 1 if accumulate else 0
    if m == 0 or n == 0:
        return
    if k == 0:
        if not accumulate:
            c[:, :] = 0
        return
    with nogil:
        _blocked_gemm(trans_a, trans_b, m, n, k, &a[0, 0], &b[0, 0], &c[0, 0], beta, nthreads)


def batched_matmul(const floating[:, :, ::1] a, const floating[:, :, ::1] b, floating[:, :, ::1] c,
                   bint trans_a, bint trans_b, bint accumulate, int nthreads):
    """c[g] = op(a[g]) @ op(b[g]) (+ c[g] when ``accumulate``) for every g.

    The products are shared out whole, one BLAS call each, when there are at least as many as threads
    (attention's batch x heads); fewer products each run on the whole team, cut as ``matmul`` cuts them.

    Parameters
    ----------
    a, b : C-contiguous 3-D arrays, IN; ``op(a[g])`` is (M, K), ``op(b[g])`` is (K, N)
    c : C-contiguous (G, M, N), OUT (read too when ``accumulate``)
    """
    cdef Py_ssize_t groups = c.shape[0], m = c.shape[1], n = c.shape[2]
    cdef Py_ssize_t k = a.shape[1] if trans_a else a.shape[2]
    cdef Py_ssize_t lda = m if trans_a else k
    cdef Py_ssize_t ldb = k if trans_b else n
    cdef Py_ssize_t g
    cdef floating beta = 1 if accumulate else 0
    if groups == 0 or m == 0 or n == 0:
        return
    if k == 0:
        if not accumulate:
            c[:, :, :] = 0
        return
    with nogil:
        if groups >= nthreads:
            for g in prange(groups, num_threads=nthreads, schedule="static"):
                nnkit_flush_denormals()
                gemm(trans_a, trans_b, m, n, k, 1, &a[g, 0, 0], lda, &b[g, 0, 0], ldb, beta, &c[g, 0, 0], n)
        else:
            for g in range(groups):
                _blocked_gemm(trans_a, trans_b, m, n, k, &a[g, 0, 0], &b[g, 0, 0], &c[g, 0, 0], beta, nthreads)


def _set_blas_int_max(Py_ssize_t limit):
    """Tests only: cut this module's GEMMs at ``limit`` instead of INT_MAX; returns the previous limit."""
    return set_blas_int_max(limit)


def _use_blas(size_t sgemm_address, size_t dgemm_address):
    """This module's GEMMs call the Fortran sgemm_/dgemm_ at these addresses (0, 0: scipy's); see
    nnkit.backend.cython.blas, the one caller."""
    use_blas(sgemm_address, dgemm_address)
