# Row-major GEMM on top of scipy's nogil Fortran BLAS.
#
# C (m x n) = alpha * op(A) @ op(B) + beta * C, all row-major with leading
# dimensions lda/ldb/ldc.  A row-major matrix is its column-major transpose, so
# we ask the Fortran BLAS for C^T = op(B)^T @ op(A)^T by swapping the operands.
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* a, int lda,
                      const floating* b, int ldb,
                      floating beta, floating* c, int ldc) noexcept nogil:
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda,
              &beta, c, &ldc)
