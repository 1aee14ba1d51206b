"""2-D convolution kernels, NHWC input and HWIO kernel (float32 and float64).

Four algorithms, chosen by the caller (``nnkit.backend.cython.conv``), one file each:

IM2COL     ``conv_im2col.pxd``: unfold a chunk of output rows into a column
           buffer and multiply it by the kernel with one GEMM per group.
IM2COL_T   ``conv_im2col_t.pxd``: the same with transposed columns
           (groups == 1), for few input channels.
POINTWISE  ``conv_pointwise.pxd``: 1x1, stride 1, no padding: the input itself
           is the column matrix.
DEPTHWISE  ``conv_depthwise.pxd``: groups == C, a direct channels-last loop.
DIRECT     ``conv_direct.pxd`` (forward only): stride 1, one group, few
           channels and filters: 16 output pixels per multiply-add, no columns.

All of them (and Winograd, ``winograd.pyx``) read one ``ConvGeometry``
(``conv_geometry.pxd``).  This file holds the entry points and the driver the
three GEMM algorithms share.

Parallelism.  The GEMM algorithms hand whole chunks of ``chunk_rows`` output
rows to OpenMP threads; each thread im2cols its chunk into its own buffer and
multiplies it with a single-threaded BLAS call while the columns are still in
its core's cache (the caller keeps the BLAS single-threaded meanwhile: a second
thread pool on the same cores only gets in the way).  The weight gradient sums
one partial per thread; the input gradient folds chunks in phases so that no
two threads touch the same dx row at once.  Direct kernels use ``prange`` over
output rows, or over input rows for dx (a gather: each thread owns its rows).
Reductions go through one slot per thread, summed in a fixed order afterwards,
so results do not depend on scheduling.

Every argument is checked by the Python wrapper before it gets here.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport free, malloc

from blas cimport set_blas_int_max, use_blas
from conv_chunk cimport ALGO_DEPTHWISE, ALGO_DIRECT, ALGO_IM2COL, ALGO_IM2COL_T, ALGO_POINTWISE, forward_chunk
from conv_depthwise cimport depthwise_backward, depthwise_forward
from conv_direct cimport direct_forward
from conv_geometry cimport ConvGeometry, conv_geometry
from conv_im2col cimport col2im_row, im2col_backward_chunk, im2col_row, phase_count
from conv_im2col_t cimport im2col_t_backward_chunk
from conv_pointwise cimport pointwise_backward_chunk
from denormal cimport nnkit_flush_denormals
from runs cimport add_run, sum_slots, zero_run

IM2COL, POINTWISE, DEPTHWISE, IM2COL_T, DIRECT = (ALGO_IM2COL, ALGO_POINTWISE, ALGO_DEPTHWISE, ALGO_IM2COL_T,
                                                  ALGO_DIRECT)


# ------------------------------------------------------------------------- im2col + GEMM, a chunk per task

cdef void backward_chunk(const floating* dy, const floating* x, const floating* w, floating* dx,
                         floating* dw, floating* db, floating* buf, const ConvGeometry* g, Py_ssize_t r0,
                         Py_ssize_t r1, int algorithm) noexcept nogil:
    """For rows r0..r1: dw += cols^T @ dy, db += column sums of dy, dx += col2im(dy @ w^T)
    (dx written when POINTWISE).  Any of dx, dw, db may be NULL."""
    cdef Py_ssize_t p, m = (r1 - r0) * g.ow
    cdef const floating* dyc = dy + r0 * g.ow * g.f
    if db != NULL:
        for p in range(m):
            add_run(db, dyc + p * g.f, g.f)
    if algorithm == ALGO_IM2COL_T:
        im2col_t_backward_chunk(dyc, x, w, dx, dw, buf, g, r0, r1)
    elif algorithm == ALGO_IM2COL:
        im2col_backward_chunk(dyc, x, w, dx, dw, buf, g, r0, r1)
    else:
        pointwise_backward_chunk(dyc, x, w, dx, dw, g, r0, r1)


cdef int gemm_forward(const floating* x, const floating* w, const floating* b, floating* y,
                      Py_ssize_t chunk_rows, const ConvGeometry* g, int algorithm) noexcept nogil:
    """Each thread takes whole chunks: im2col into its own buffer, then single-threaded GEMMs."""
    cdef Py_ssize_t c, rows = g.n * g.oh, nchunks = (rows + chunk_rows - 1) // chunk_rows
    cdef int failed = 0
    cdef int* failed_p = &failed
    cdef floating* buf = NULL
    with parallel(num_threads=g.nthreads):
        nnkit_flush_denormals()
        buf = NULL
        if algorithm != ALGO_POINTWISE:
            buf = <floating*>malloc(chunk_rows * g.ow * g.k * sizeof(floating))
            if buf == NULL:
                failed_p[0] = 1
        for c in prange(nchunks, schedule='dynamic'):  # chunks are independent: any order
            if algorithm == ALGO_POINTWISE or buf != NULL:
                forward_chunk(x, w, b, y, buf, g, c * chunk_rows, min((c + 1) * chunk_rows, rows), algorithm)
        free(buf)
    return -failed


cdef int gemm_backward(const floating* dy, const floating* x, const floating* w, floating* dx,
                       floating* dw, floating* db, Py_ssize_t chunk_rows, const ConvGeometry* g,
                       int algorithm) noexcept nogil:
    """As `gemm_forward`, for any of dx, dw, db (NULL when not wanted).

    dw and db: one partial sum per thread, added up in thread order (static schedule, so
    the same chunks land in the same partial every run).  dx (zero-filled by the caller
    unless POINTWISE) is folded phase by phase: chunks of one phase lie far enough apart
    that no two threads touch the same dx row, and each phase is its own parallel region
    (so a barrier separates phases).  Returns -1 when out of memory."""
    cdef Py_ssize_t c, phase, rows = g.n * g.oh, nchunks = (rows + chunk_rows - 1) // chunk_rows
    cdef bint pointwise = algorithm == ALGO_POINTWISE
    cdef Py_ssize_t nphases = 1 if pointwise or dx == NULL else phase_count(g, chunk_rows)
    cdef Py_ssize_t buf_size = 0 if pointwise or (dx == NULL and dw == NULL) else chunk_rows * g.ow * g.k
    cdef Py_ssize_t dw_size = 0 if dw == NULL else g.kh * g.kw * g.cg * g.f
    cdef Py_ssize_t size = dw_size + (0 if db == NULL else g.f)
    cdef floating* buf = NULL
    cdef floating* slot = NULL
    # Each thread's column buffer, then each thread's partial sums of dw and db.
    cdef floating* scratch = <floating*>malloc((g.nthreads * (buf_size + size) + 1) * sizeof(floating))
    cdef floating* slots = scratch + g.nthreads * buf_size
    if scratch == NULL:
        return -1
    zero_run(slots, g.nthreads * size)
    for phase in range(nphases):
        with parallel(num_threads=g.nthreads):
            nnkit_flush_denormals()
            buf = scratch + threadid() * buf_size
            slot = slots + threadid() * size
            for c in prange(phase, nchunks, nphases, schedule='static'):
                backward_chunk(dy, x, w, dx, slot if dw != NULL else NULL,
                               slot + dw_size if db != NULL else NULL, buf if buf_size else NULL,
                               g, c * chunk_rows, min((c + 1) * chunk_rows, rows), algorithm)
    sum_slots(slots, size, g.nthreads, dw, dw_size, db)
    free(scratch)
    return 0


# ----------------------------------------------------------------------------- entry points

def conv2d_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w, const floating[::1] b,
                   floating[:, :, :, ::1] y, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl,
                   Py_ssize_t dil_h, Py_ssize_t dil_w, Py_ssize_t groups, int algorithm, Py_ssize_t chunk_rows,
                   int nthreads):
    """Convolution forward pass into a caller-allocated output.

    Parameters
    ----------
    x : (N, H, W, C) array, IN
    w : (KH, KW, C // groups, F) array, IN
    b : (F,) array or None, IN
    y : (N, OH, OW, F) array, OUT (fully written)
    sh, sw, pt, pl, dil_h, dil_w : int
        Strides, top/left padding and dilation (the bottom/right padding is
        implied by the shape of ``y``).
    groups : int
    algorithm : int
        ``IM2COL``, ``IM2COL_T`` (groups == 1), ``POINTWISE`` (1x1, stride 1,
        no padding), ``DEPTHWISE`` (groups == C) or ``DIRECT`` (stride 1, no
        dilation, groups == 1).
    chunk_rows : int
        Output rows (n, oh) per task, at least 1; each thread's column buffer
        holds ``chunk_rows * OW * KH * KW * C`` values.
    nthreads : int
        OpenMP threads to use.

    Notes
    -----
    No argument checking: ``nnkit.backend.cython.conv`` validates first.  The
    GEMMs run inside OpenMP workers, so the caller must keep the BLAS
    single-threaded while more than one OpenMP thread is in use.
    """
    cdef ConvGeometry g = conv_geometry(x.shape, w.shape[0], w.shape[1], w.shape[3], y.shape[1], y.shape[2],
                                        sh, sw, pt, pl, dil_h, dil_w, groups, nthreads)
    cdef const floating* bp = NULL
    if b is not None:
        bp = &b[0]
    cdef int status = 0
    with nogil:
        if algorithm == ALGO_DEPTHWISE:
            depthwise_forward(&x[0, 0, 0, 0], &w[0, 0, 0, 0], bp, &y[0, 0, 0, 0], &g)
        elif algorithm == ALGO_DIRECT:
            status = direct_forward(&x[0, 0, 0, 0], &w[0, 0, 0, 0], bp, &y[0, 0, 0, 0], &g)
        else:
            status = gemm_forward(&x[0, 0, 0, 0], &w[0, 0, 0, 0], bp, &y[0, 0, 0, 0], chunk_rows, &g,
                                  algorithm)
    if status != 0:
        raise MemoryError("conv2d: out of memory for the per-thread column buffers")


def conv2d_backward(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] x,
                    const floating[:, :, :, ::1] w, floating[:, :, :, ::1] dx,
                    floating[:, :, :, ::1] dw, floating[::1] db, Py_ssize_t sh, Py_ssize_t sw,
                    Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dil_h, Py_ssize_t dil_w, Py_ssize_t groups,
                    int algorithm, Py_ssize_t chunk_rows, int nthreads):
    """Convolution backward pass into caller-allocated gradients.

    Parameters
    ----------
    dy : (N, OH, OW, F) array, IN
    x : (N, H, W, C) array, IN
    w : (KH, KW, C // groups, F) array, IN
    dx : (N, H, W, C) array or None, OUT; must be zero-filled for IM2COL and
        IM2COL_T (folding accumulates), is fully written otherwise
    dw : (KH, KW, C // groups, F) array or None, OUT (fully written)
    db : (F,) array or None, OUT (fully written)
    sh, sw, pt, pl, dil_h, dil_w, groups, algorithm, chunk_rows, nthreads
        As for `conv2d_forward` (and the same BLAS caveat).
    """
    cdef ConvGeometry g = conv_geometry(x.shape, w.shape[0], w.shape[1], w.shape[3], dy.shape[1], dy.shape[2],
                                        sh, sw, pt, pl, dil_h, dil_w, groups, nthreads)
    cdef floating* dxp = NULL if dx is None else &dx[0, 0, 0, 0]
    cdef floating* dwp = NULL if dw is None else &dw[0, 0, 0, 0]
    cdef floating* dbp = NULL if db is None else &db[0]
    cdef int status = 0
    if algorithm == ALGO_DIRECT:
        raise ValueError("conv2d_backward: DIRECT is a forward algorithm (its backward pass is im2col's)")
    with nogil:
        if algorithm == ALGO_DEPTHWISE:
            status = depthwise_backward(&dy[0, 0, 0, 0], &x[0, 0, 0, 0], &w[0, 0, 0, 0], dxp, dwp, dbp, &g)
        else:
            status = gemm_backward(&dy[0, 0, 0, 0], &x[0, 0, 0, 0], &w[0, 0, 0, 0], dxp, dwp, dbp,
                                   chunk_rows, &g, algorithm)
    if status != 0:
        raise MemoryError("conv2d_backward: out of memory for per-thread scratch")


def im2col(const floating[:, :, :, ::1] x, floating[:, ::1] cols, Py_ssize_t kh, Py_ssize_t kw,
           Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dil_h, Py_ssize_t dil_w,
           Py_ssize_t oh, Py_ssize_t ow, int nthreads):
    """Unfold NHWC ``x`` (IN) into ``cols`` (OUT, (N*OH*OW, KH*KW*C), columns (kh, kw, c)).

    Padded taps are written as 0.
    """
    cdef ConvGeometry g = conv_geometry(x.shape, kh, kw, x.shape[3], oh, ow, sh, sw, pt, pl, dil_h, dil_w, 1,
                                        nthreads)
    cdef Py_ssize_t r
    with nogil, parallel(num_threads=g.nthreads):
        nnkit_flush_denormals()
        for r in prange(g.n * g.oh, schedule='dynamic'):
            im2col_row(&x[0, 0, 0, 0], &cols[0, 0] + r * g.ow * g.k, &g, r // g.oh, r % g.oh)


def col2im(const floating[:, ::1] cols, floating[:, :, :, ::1] dx, Py_ssize_t kh, Py_ssize_t kw,
           Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dil_h, Py_ssize_t dil_w,
           Py_ssize_t oh, Py_ssize_t ow, int nthreads):
    """Fold ``cols`` (IN, as produced by `im2col`) into ``dx`` (IN/OUT, zero-filled by the caller).

    The exact adjoint of `im2col`: overlapping contributions are summed.  Each
    thread gathers whole dx rows, so no two threads write the same element.
    """
    cdef ConvGeometry g = conv_geometry(dx.shape, kh, kw, dx.shape[3], oh, ow, sh, sw, pt, pl, dil_h, dil_w, 1,
                                        nthreads)
    cdef Py_ssize_t q
    with nogil, parallel(num_threads=g.nthreads):
        nnkit_flush_denormals()
        for q in prange(g.n * g.h, schedule='dynamic'):
            col2im_row(&cols[0, 0], &dx[0, 0, 0, 0], &g, q // g.h, q % g.h, 0, g.n * g.oh)


def _set_blas_int_max(Py_ssize_t limit):
    """Tests only: cut this module's GEMMs at ``limit`` instead of INT_MAX; returns the previous limit."""
    return set_blas_int_max(limit)


def _use_blas(size_t sgemm_address, size_t dgemm_address):
    """This module's GEMMs call the Fortran sgemm_/dgemm_ at these addresses (0, 0: scipy's); see
    nnkit.backend.cython.blas, the one caller."""
    use_blas(sgemm_address, dgemm_address)
