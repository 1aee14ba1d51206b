# Row-major GEMM on top of a Fortran BLAS: scipy's (OpenBLAS, always there), or
# another with the same Fortran ABI (Intel MKL) whose sgemm_/dgemm_ addresses
# nnkit.backend.cython.blas installs into each module at import (`use_blas`).
#
# C (m x n) = alpha * op(A) @ op(B) + beta * C, all row-major with leading
# dimensions lda/ldb/ldc.  A row-major matrix is its column-major transpose, so
# we ask the Fortran BLAS for C^T = op(B)^T @ op(A)^T by swapping the operands.
#
# scipy's BLAS takes 32-bit ints; nnkit's sizes are Py_ssize_t.  `gemm` cuts a
# product whose sizes or leading dimensions pass INT_MAX into products that fit
# (narrowing them instead gave silently wrong results at 2**31).
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm

cdef extern from *:
    """
    #include <limits.h>
    /* The largest size handed to BLAS in one call: INT_MAX, lowered only by tests
       (each extension module that cimports blas has its own copy). */
    static Py_ssize_t nnkit_blas_int_max = INT_MAX;
    """
    Py_ssize_t nnkit_blas_int_max
    int INT_MAX

ctypedef void (*sgemm_fn)(char*, char*, int*, int*, int*, float*, float*, int*, float*, int*, float*, float*,
                          int*) noexcept nogil
ctypedef void (*dgemm_fn)(char*, char*, int*, int*, int*, double*, double*, int*, double*, int*, double*, double*,
                          int*) noexcept nogil

cdef extern from *:
    """
    /* The BLAS this module calls: NULL means scipy's (each module has its own copy, set by use_blas). */
    static void *nnkit_sgemm = NULL;
    static void *nnkit_dgemm = NULL;
    """
    void *nnkit_sgemm
    void *nnkit_dgemm


cdef inline void blas_gemm(bint trans_a, bint trans_b, int m, int n, int k,
                           floating alpha, const floating* a, int lda,
                           const floating* b, int ldb,
                           floating beta, floating* c, int ldc) noexcept nogil:
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        if nnkit_sgemm != NULL:
            (<sgemm_fn>nnkit_sgemm)(&tb, &ta, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda, &beta, c, &ldc)
        else:
            sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda, &beta, c, &ldc)
    else:
        if nnkit_dgemm != NULL:
            (<dgemm_fn>nnkit_dgemm)(&tb, &ta, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda, &beta, c,
                                    &ldc)
        else:
            dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda, &beta, c, &ldc)


cdef inline int fit_ld(Py_ssize_t ld, Py_ssize_t row_length) noexcept nogil:
    """A leading dimension BLAS accepts: ``ld`` itself, or for a matrix cut to a single stored row (where
    BLAS never steps by it) the row's length."""
    return <int>(ld if ld <= nnkit_blas_int_max else max(row_length, 1))


cdef inline void gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      floating alpha, const floating* a, Py_ssize_t lda,
                      const floating* b, Py_ssize_t ldb,
                      floating beta, floating* c, Py_ssize_t ldc) noexcept nogil:
    """C = alpha op(A) op(B) + beta C, row-major, any Py_ssize_t sizes.

    Sizes above nnkit_blas_int_max are cut into blocks (the k blocks after the
    first add into C).  A leading dimension above it cannot be passed at all,
    so its matrix is taken one stored row at a time.
    """
    cdef Py_ssize_t lim = nnkit_blas_int_max
    cdef Py_ssize_t mb = lim, nb = lim, kb = lim, i0, j0, p0, mi, nj, kp
    if ldc > lim:
        mb = 1
    if lda > lim:
        if trans_a:
            kb = 1
        else:
            mb = 1
    if ldb > lim:
        if trans_b:
            nb = 1
        else:
            kb = 1
    if m <= mb and n <= nb and k <= kb:  # the usual case: one call
        blas_gemm(trans_a, trans_b, <int>m, <int>n, <int>k, alpha, a, <int>lda, b, <int>ldb, beta, c, <int>ldc)
        return
    i0 = 0
    while i0 < m:
        mi = min(mb, m - i0)
        j0 = 0
        while j0 < n:
            nj = min(nb, n - j0)
            p0 = 0
            while p0 == 0 or p0 < k:  # k == 0 still makes one call, which scales C by beta
                kp = min(kb, k - p0)
                blas_gemm(trans_a, trans_b, <int>mi, <int>nj, <int>kp, alpha,
                          a + (p0 * lda + i0 if trans_a else i0 * lda + p0), fit_ld(lda, mi if trans_a else kp),
                          b + (j0 * ldb + p0 if trans_b else p0 * ldb + j0), fit_ld(ldb, kp if trans_b else nj),
                          beta if p0 == 0 else 1, c + i0 * ldc + j0, fit_ld(ldc, nj))
                p0 += kb
            j0 += nb
        i0 += mb

cdef inline Py_ssize_t set_blas_int_max(Py_ssize_t limit) noexcept nogil:
    """Lower (tests) or restore the largest size one BLAS call gets; returns the previous limit."""
    global nnkit_blas_int_max
    cdef Py_ssize_t previous = nnkit_blas_int_max
    nnkit_blas_int_max = min(max(limit, 1), <Py_ssize_t>INT_MAX)
    return previous


cdef inline void use_blas(size_t sgemm_address, size_t dgemm_address) noexcept nogil:
    """Call the Fortran sgemm_/dgemm_ at these addresses from now on (0, 0: scipy's again).  Only between
    kernel calls: nnkit.backend.cython.blas installs them at import, before any kernel runs."""
    global nnkit_sgemm, nnkit_dgemm
    nnkit_sgemm = <void*>sgemm_address
    nnkit_dgemm = <void*>dgemm_address
