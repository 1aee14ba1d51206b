"""Batch normalisation kernels, channels-last, float32/float64.

``x`` arrives as a C-contiguous (M, C) view (all leading axes flattened).
The Python wrappers in ``nnkit.backend.cython.batchnorm`` have already checked
shapes, dtypes, contiguity, M >= 1 and eps > 0, and allocated the outputs.

Channel reductions split the rows into one contiguous chunk per OpenMP thread
(``omp_get_max_threads()`` chunks, whatever the team size) and each chunk into
cache-sized blocks.  A block is reduced in the working precision with two
passes over cache-resident data (mean, then squared deviations: stable), and
merged into its chunk's float64 statistics with Chan's formula; the chunks are
merged the same way, serially and in order.  So every reduction happens in a
fixed order: results are bitwise reproducible for a fixed thread count.
"""
cimport openmp
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport sqrt
from libc.stdlib cimport free, malloc

from denormal cimport nnkit_flush_denormals

# A block holds at most this many elements (16 KiB of float32): both passes
# over it stay in L1.  At most MAX_BLOCK_ROWS rows, so that a block sum in
# float32 never runs long.
cdef enum:
    BLOCK_ELEMENTS = 4096
    MAX_BLOCK_ROWS = 256


cdef inline Py_ssize_t _block_rows(Py_ssize_t C) noexcept nogil:
    return max(1, min(MAX_BLOCK_ROWS, BLOCK_ELEMENTS // max(C, 1)))


cdef inline Py_ssize_t _chunk(Py_ssize_t M, Py_ssize_t chunks, Py_ssize_t t) noexcept nogil:
    """First row of chunk t of ``chunks`` near-equal contiguous chunks of M rows.

    (Returned, not written through a pointer: a variable assigned in a prange
    body is thread-private, one whose address is taken is shared.)"""
    return M * t // chunks


cdef inline void _merge(double n_a, double* mean_a, double* m2_a, double n_b,
                        const double* mean_b, const double* m2_b, Py_ssize_t C) noexcept nogil:
    """Chan's parallel update: fold (n_b, mean_b, m2_b) into (n_a, mean_a, m2_a)."""
    cdef Py_ssize_t c
    cdef double delta, f, g
    if n_b == 0:
        return
    f = n_b / (n_a + n_b)
    g = n_a * f
    for c in range(C):
        delta = mean_b[c] - mean_a[c]
        mean_a[c] = mean_a[c] + delta * f
        m2_a[c] = m2_a[c] + m2_b[c] + delta * delta * g


# Row reductions into per-channel accumulators, four rows per pass over the
# accumulator (a quarter of the accumulator loads and stores; measured 2x).

cdef inline void _add_rows(const floating* x, Py_ssize_t rows, Py_ssize_t C,
                           floating* acc) noexcept nogil:
    """acc[c] += sum of x[r, c] over rows."""
    cdef Py_ssize_t r = 0, c
    cdef const floating* a
    while r + 4 <= rows:
        a = x + r * C
        for c in range(C):
            acc[c] += (a[c] + a[C + c]) + (a[2 * C + c] + a[3 * C + c])
        r += 4
    for r in range(r, rows):
        a = x + r * C
        for c in range(C):
            acc[c] += a[c]


cdef inline void _add_squares(const floating* x, Py_ssize_t rows, Py_ssize_t C,
                              const floating* mean, floating* acc) noexcept nogil:
    """acc[c] += sum of (x[r, c] - mean[c]) ** 2 over rows."""
    cdef Py_ssize_t r = 0, c
    cdef const floating* a
    cdef floating d0, d1, d2, d3
    while r + 4 <= rows:
        a = x + r * C
        for c in range(C):
            d0 = a[c] - mean[c]
            d1 = a[C + c] - mean[c]
            d2 = a[2 * C + c] - mean[c]
            d3 = a[3 * C + c] - mean[c]
            acc[c] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
        r += 4
    for r in range(r, rows):
        a = x + r * C
        for c in range(C):
            d0 = a[c] - mean[c]
            acc[c] += d0 * d0


cdef inline void _add_grads(const floating* dy, const floating* x, Py_ssize_t rows,
                            Py_ssize_t C, const floating* mean, floating* acc_dy,
                            floating* acc_dyx) noexcept nogil:
    """acc_dy[c] += sum of dy[r, c]; acc_dyx[c] += sum of dy[r, c] * (x[r, c] - mean[c])."""
    cdef Py_ssize_t r = 0, c
    cdef const floating* g
    cdef const floating* a
    while r + 4 <= rows:
        g = dy + r * C
        a = x + r * C
        for c in range(C):
            acc_dy[c] += (g[c] + g[C + c]) + (g[2 * C + c] + g[3 * C + c])
            acc_dyx[c] += ((g[c] * (a[c] - mean[c]) + g[C + c] * (a[C + c] - mean[c]))
                           + (g[2 * C + c] * (a[2 * C + c] - mean[c])
                              + g[3 * C + c] * (a[3 * C + c] - mean[c])))
        r += 4
    for r in range(r, rows):
        g = dy + r * C
        a = x + r * C
        for c in range(C):
            acc_dy[c] += g[c]
            acc_dyx[c] += g[c] * (a[c] - mean[c])


cdef void _chunk_moments(const floating* x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t C,
                         double* mean, double* m2, floating* bmean, floating* bm2,
                         double* tmp) noexcept nogil:
    """OUT mean, m2 (C,): mean and sum of squared deviations of rows [r0, r1) of x.
    SCRATCH bmean, bm2: (C,) working precision; tmp: (2C,) float64."""
    cdef Py_ssize_t b0, nb, c, block = _block_rows(C)
    cdef double n = 0
    for c in range(C):
        mean[c] = 0
        m2[c] = 0
    b0 = r0
    while b0 < r1:
        nb = min(block, r1 - b0)
        for c in range(C):
            bmean[c] = 0
            bm2[c] = 0
        _add_rows(x + b0 * C, nb, C, bmean)
        for c in range(C):
            bmean[c] = bmean[c] / nb
        _add_squares(x + b0 * C, nb, C, bmean, bm2)
        for c in range(C):
            tmp[c] = bmean[c]
            tmp[C + c] = bm2[c]
        _merge(n, mean, m2, nb, tmp, tmp + C, C)
        n += nb
        b0 += nb


cdef void _chunk_grad_sums(const floating* dy, const floating* x, const floating* mean,
                           Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t C,
                           double* sum_dy, double* sum_dyx, floating* bdy,
                           floating* bdyx) noexcept nogil:
    """OUT sum_dy, sum_dyx (C,): sums of dy and dy * (x - mean) over rows [r0, r1).
    SCRATCH bdy, bdyx: (C,) working precision."""
    cdef Py_ssize_t b0, nb, c, block = _block_rows(C)
    for c in range(C):
        sum_dy[c] = 0
        sum_dyx[c] = 0
    b0 = r0
    while b0 < r1:
        nb = min(block, r1 - b0)
        for c in range(C):
            bdy[c] = 0
            bdyx[c] = 0
        _add_grads(dy + b0 * C, x + b0 * C, nb, C, mean, bdy, bdyx)
        for c in range(C):
            sum_dy[c] += bdy[c]
            sum_dyx[c] += bdyx[c]
        b0 += nb


cdef void _affine_rows(const floating* x, const floating* shift, const floating* scale,
                       const floating* offset, floating* y, Py_ssize_t r0, Py_ssize_t r1,
                       Py_ssize_t C) noexcept nogil:
    """OUT y rows [r0, r1): ``(x - shift) * scale + offset``, per channel."""
    cdef Py_ssize_t r, c
    cdef const floating* xrow
    cdef floating* yrow
    for r in range(r0, r1):
        xrow = x + r * C
        yrow = y + r * C
        for c in range(C):
            yrow[c] = (xrow[c] - shift[c]) * scale[c] + offset[c]


cdef void _dx_rows(const floating* dy, const floating* x, const floating* mean,
                   const floating* scale, const floating* dbeta, const floating* slope,
                   floating* dx, floating m, Py_ssize_t r0, Py_ssize_t r1,
                   Py_ssize_t C) noexcept nogil:
    """OUT dx rows [r0, r1): ``scale * ((m * dy - dbeta) - (x - mean) * slope)``,
    per channel; the reference's order of operations, so that the cancellation
    of the first difference (exact when m = 1) happens identically."""
    cdef Py_ssize_t r, c
    cdef const floating* drow
    cdef const floating* xrow
    cdef floating* out
    for r in range(r0, r1):
        drow = dy + r * C
        xrow = x + r * C
        out = dx + r * C
        for c in range(C):
            out[c] = scale[c] * ((m * drow[c] - dbeta[c]) - (xrow[c] - mean[c]) * slope[c])


cdef inline Py_ssize_t _row_chunks(Py_ssize_t M) noexcept nogil:
    """Chunks for an elementwise pass: enough for every thread, a few hundred rows each."""
    return max(1, min(M // 256, 64 * openmp.omp_get_max_threads()))


def batch_norm_forward_train(const floating[:, ::1] x, const floating[::1] gamma,
                             const floating[::1] beta, double eps, floating[:, ::1] y,
                             floating[::1] mean, floating[::1] invstd, floating[::1] variance, int nthreads):
    """Batch-statistics normalisation forward.

    Parameters
    ----------
    x : (M, C) float32 or float64, C-contiguous, M >= 1
        IN: rows to normalise.
    gamma, beta : (C,) same dtype
        IN: scale and offset.
    eps : float > 0
        Added to the variance.
    y : (M, C) same dtype
        OUT: ``(x - mean) * invstd * gamma + beta``.
    mean, invstd, variance : (C,) same dtype
        OUT: batch mean, ``1 / sqrt(var + eps)`` and ``var``, the biased variance
        (returned as well so that moving averages need not rebuild it from ``invstd``).
    """
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], T = openmp.omp_get_max_threads()
    cdef Py_ssize_t t, c, r0, r1, failed = 0, chunks = _row_chunks(M)
    cdef double* part = NULL       # per chunk: mean (C,), m2 (C,)
    cdef double* tmp = NULL
    cdef floating* work = NULL
    cdef floating* scale = NULL
    cdef double var, n
    if C == 0:
        return
    part = <double*>malloc(T * 2 * C * sizeof(double))
    scale = <floating*>malloc(C * sizeof(floating))
    if part == NULL or scale == NULL:
        free(part)
        free(scale)
        raise MemoryError("batch_norm: out of memory for partial sums")
    try:
        with nogil, parallel(num_threads=nthreads):
            nnkit_flush_denormals()
            work = <floating*>malloc(2 * C * sizeof(floating))
            tmp = <double*>malloc(2 * C * sizeof(double))
            for t in prange(T, schedule='static'):
                if work == NULL or tmp == NULL:
                    failed += 1
                else:
                    r0 = _chunk(M, T, t)
                    r1 = _chunk(M, T, t + 1)
                    _chunk_moments(&x[0, 0], r0, r1, C, part + 2 * C * t, part + 2 * C * t + C,
                                   work, work + C, tmp)
            free(work)
            free(tmp)
        if failed:
            raise MemoryError("batch_norm: out of memory for per-thread scratch")
        with nogil:
            r0 = _chunk(M, T, 0)
            r1 = _chunk(M, T, 1)
            n = r1 - r0
            for t in range(1, T):  # fold every chunk into chunk 0, in order: reproducible
                r0 = _chunk(M, T, t)
                r1 = _chunk(M, T, t + 1)
                _merge(n, part, part + C, r1 - r0, part + 2 * C * t, part + 2 * C * t + C, C)
                n += r1 - r0
            for c in range(C):
                var = part[C + c] / M
                mean[c] = <floating>part[c]
                variance[c] = <floating>var
                invstd[c] = <floating>(1 / sqrt(var + eps))
                scale[c] = <floating>(gamma[c] / sqrt(var + eps))
            with parallel(num_threads=nthreads):
                nnkit_flush_denormals()
                for t in prange(chunks, schedule='static'):
                    r0 = _chunk(M, chunks, t)
                    r1 = _chunk(M, chunks, t + 1)
                    _affine_rows(&x[0, 0], &mean[0], scale, &beta[0], &y[0, 0], r0, r1, C)
    finally:
        free(part)
        free(scale)


def batch_norm_backward(const floating[:, ::1] dy, const floating[:, ::1] x,
                        const floating[::1] mean, const floating[::1] invstd,
                        const floating[::1] gamma, floating[:, ::1] dx,
                        floating[::1] dgamma, floating[::1] dbeta, int nthreads):
    """Batch-statistics normalisation backward (through the batch mean and variance).

    Parameters
    ----------
    dy, x : (M, C) float32 or float64, C-contiguous, M >= 1
        IN: output gradient and the forward input.
    mean, invstd, gamma : (C,) same dtype
        IN: the forward statistics and scale.
    dx : (M, C) same dtype
        OUT: ``gamma * invstd / M * (M * dy - dbeta - xhat * dgamma)``
        with ``xhat = (x - mean) * invstd``.
    dgamma, dbeta : (C,) same dtype
        OUT: ``sum(dy * xhat)`` and ``sum(dy)`` over rows.
    """
    cdef Py_ssize_t M = dy.shape[0], C = dy.shape[1], T = openmp.omp_get_max_threads()
    cdef Py_ssize_t t, c, r0, r1, failed = 0, chunks = _row_chunks(M)
    cdef double* part = NULL       # per chunk: sum dy (C,), sum dy * (x - mean) (C,)
    cdef floating* work = NULL
    cdef floating* coef = NULL     # scale and slope of _dx_rows
    cdef double sdy, sdyx
    if C == 0:
        return
    part = <double*>malloc(T * 2 * C * sizeof(double))
    coef = <floating*>malloc(2 * C * sizeof(floating))
    if part == NULL or coef == NULL:
        free(part)
        free(coef)
        raise MemoryError("batch_norm: out of memory for partial sums")
    try:
        with nogil, parallel(num_threads=nthreads):
            nnkit_flush_denormals()
            work = <floating*>malloc(2 * C * sizeof(floating))
            for t in prange(T, schedule='static'):
                if work == NULL:
                    failed += 1
                else:
                    r0 = _chunk(M, T, t)
                    r1 = _chunk(M, T, t + 1)
                    _chunk_grad_sums(&dy[0, 0], &x[0, 0], &mean[0], r0, r1, C,
                                     part + 2 * C * t, part + 2 * C * t + C, work, work + C)
            free(work)
        if failed:
            raise MemoryError("batch_norm: out of memory for per-thread scratch")
        with nogil:
            for c in range(C):
                sdy = 0
                sdyx = 0
                for t in range(T):  # in chunk order: reproducible
                    sdy = sdy + part[2 * C * t + c]
                    sdyx = sdyx + part[2 * C * t + C + c]
                dbeta[c] = <floating>sdy
                dgamma[c] = <floating>(sdyx * invstd[c])
                coef[c] = gamma[c] * invstd[c] / M      # the reference's rounding steps
                coef[C + c] = invstd[c] * dgamma[c]
            with parallel(num_threads=nthreads):
                nnkit_flush_denormals()
                for t in prange(chunks, schedule='static'):
                    r0 = _chunk(M, chunks, t)
                    r1 = _chunk(M, chunks, t + 1)
                    _dx_rows(&dy[0, 0], &x[0, 0], &mean[0], coef, &dbeta[0], coef + C,
                             &dx[0, 0], <floating>M, r0, r1, C)
    finally:
        free(part)
        free(coef)


def batch_norm_inference(const floating[:, ::1] x, const floating[::1] gamma,
                         const floating[::1] beta, const floating[::1] mean,
                         const floating[::1] var, double eps, floating[:, ::1] y, int nthreads):
    """Normalisation with given statistics: ``(x - mean) / sqrt(var + eps) * gamma + beta``.

    Parameters
    ----------
    x : (M, C) float32 or float64, C-contiguous
        IN: rows to normalise.
    gamma, beta, mean, var : (C,) same dtype
        IN: scale, offset and the (running) statistics.
    eps : float > 0
        Added to the variance.
    y : (M, C) same dtype
        OUT: normalised rows.
    """
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], t, c, r0, r1, chunks = _row_chunks(M)
    cdef floating* scale
    if M == 0 or C == 0:
        return
    scale = <floating*>malloc(C * sizeof(floating))
    if scale == NULL:
        raise MemoryError("batch_norm: out of memory")
    with nogil:
        for c in range(C):
            scale[c] = <floating>(gamma[c] / sqrt(<double>var[c] + eps))
        with parallel(num_threads=nthreads):
            nnkit_flush_denormals()
            for t in prange(chunks, schedule='static'):
                r0 = _chunk(M, chunks, t)
                r1 = _chunk(M, chunks, t + 1)
                _affine_rows(&x[0, 0], &mean[0], scale, &beta[0], &y[0, 0], r0, r1, C)
    free(scale)
