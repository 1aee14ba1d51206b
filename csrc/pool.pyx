"""2-D max and average pooling kernels, NHWC, float32/float64.

The Python wrappers in ``nnkit.backend.cython.pool`` have already checked
ndim, dtype, contiguity, shapes, the geometry (positive pools and strides,
each padding smaller than its pool, positive output size) and allocated the
outputs.  Every window therefore holds at least one real element.

Forward kernels run in parallel over output rows (n, oh); backward kernels in
parallel over images, so no two threads ever write the same element of dx.
The innermost loops run over the contiguous channel axis.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdint cimport INT32_MAX, int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memset

from denormal cimport nnkit_flush_denormals
from team cimport team_size


cdef struct Geometry:
    Py_ssize_t N, H, W, C, OH, OW, ph, pw, sh, sw, top, left, right


cdef Geometry _geometry(const Py_ssize_t* image, const Py_ssize_t* out,
                        pool_size, strides, padding):
    """Geometry from the (N, H, W, C) image shape and the (N, OH, OW, C) output shape."""
    cdef Geometry g
    g.N, g.H, g.W, g.C = image[0], image[1], image[2], image[3]
    g.OH, g.OW = out[1], out[2]
    g.ph, g.pw = pool_size
    g.sh, g.sw = strides
    g.top, g.left, g.right = padding[0][0], padding[1][0], padding[1][1]
    return g


cdef enum:
    PARALLEL_MIN_ELEMENTS = 32768  # input elements


cdef inline void _window(const Geometry* g, Py_ssize_t oh, Py_ssize_t ow,
                         Py_ssize_t* h0, Py_ssize_t* h1,
                         Py_ssize_t* w0, Py_ssize_t* w1) noexcept nogil:
    """The real (unpadded) rows [h0, h1) and columns [w0, w1) of window (oh, ow)."""
    h0[0] = oh * g.sh - g.top
    w0[0] = ow * g.sw - g.left
    h1[0] = min(h0[0] + g.ph, g.H)
    w1[0] = min(w0[0] + g.pw, g.W)
    h0[0] = max(h0[0], 0)
    w0[0] = max(w0[0], 0)


# ----------------------------------------------------------------------------- max pooling

cdef fused offset_t:
    # a window offset as wide as the float type, so the select below vectorises
    int32_t
    int64_t


cdef void _max_forward_row(const Geometry* g, const floating* x, floating* y,
                           int64_t* argmax, offset_t* best, Py_ssize_t oh) noexcept nogil:
    """IN x: one image (H, W, C).  OUT y, argmax: output row oh, (OW, C).
    SCRATCH best: (C,), the winner's offset from the window's first real element."""
    cdef Py_ssize_t ow, h, w, c, h0, h1, w0, w1, C = g.C
    cdef offset_t offset
    cdef const floating* xp
    cdef floating* yp
    cdef floating v, m
    cdef offset_t b
    cdef bint better
    for ow in range(g.OW):
        _window(g, oh, ow, &h0, &h1, &w0, &w1)
        yp = y + ow * C
        xp = x + (h0 * g.W + w0) * C
        for c in range(C):
            yp[c] = xp[c]
            best[c] = 0
        for h in range(h0, h1):
            for w in range(w0, w1):
                xp = x + (h * g.W + w) * C
                offset = (h - h0) * g.W + (w - w0)
                for c in range(C):
                    # strictly greater: the first maximum in row-major order wins.
                    # Select into locals, then store: gcc if-converts and vectorises.
                    v = xp[c]
                    m = yp[c]
                    b = best[c]
                    better = v > m
                    m = v if better else m
                    b = offset if better else b
                    yp[c] = m
                    best[c] = b
        for c in range(C):
            argmax[ow * C + c] = h0 * g.W + w0 + best[c]


cdef Py_ssize_t _max_backward_image(const Geometry* g, const floating* dy,
                                    const int64_t* argmax, floating* dx) noexcept nogil:
    """IN dy, argmax: one image (OH, OW, C).  OUT dx: one image (H, W, C).

    Returns the number of argmax entries outside [0, H * W) (skipped)."""
    cdef Py_ssize_t i, c, C = g.C, bad = 0
    cdef uint64_t plane = g.H * g.W
    cdef int64_t a
    memset(dx, 0, plane * C * sizeof(floating))
    for i in range(g.OH * g.OW):
        for c in range(C):
            a = argmax[i * C + c]
            if <uint64_t>a < plane:
                dx[a * C + c] += dy[i * C + c]
            else:
                bad += 1
    return bad


def max_pool2d_forward(const floating[:, :, :, ::1] x, pool_size, strides, padding,
                       floating[:, :, :, ::1] y, int64_t[:, :, :, ::1] argmax):
    """Max pooling forward.

    Parameters
    ----------
    x : (N, H, W, C) float32 or float64, C-contiguous
        IN: input images.
    pool_size, strides : (int, int)
        Window and step, (height, width).
    padding : ((int, int), (int, int))
        ((top, bottom), (left, right)); each smaller than the pool on its axis.
    y : (N, OH, OW, C) same dtype as x
        OUT: window maxima.
    argmax : (N, OH, OW, C) int64
        OUT: flat index ``h * W + w`` of each maximum in its image/channel plane;
        ties go to the first maximum in row-major window order.
    """
    cdef Geometry g = _geometry(x.shape, y.shape, pool_size, strides, padding)
    cdef Py_ssize_t row, n, oh, failed = 0
    cdef void* best = NULL
    # offsets within a window fit in 32 bits unless a window spans 2**31 elements
    cdef bint narrow = floating is float and (g.ph - 1) * g.W + g.pw <= INT32_MAX
    if g.N == 0 or g.C == 0:
        return
    with nogil, parallel(num_threads=team_size(g.N * g.H * g.W * g.C, PARALLEL_MIN_ELEMENTS)):
        nnkit_flush_denormals()
        best = malloc(g.C * sizeof(int64_t))
        for row in prange(g.N * g.OH, schedule='static'):
            n = row // g.OH
            oh = row % g.OH
            if best == NULL:
                failed += 1
            elif narrow:
                _max_forward_row(&g, &x[n, 0, 0, 0], &y[n, oh, 0, 0], &argmax[n, oh, 0, 0],
                                 <int32_t*>best, oh)
            else:
                _max_forward_row(&g, &x[n, 0, 0, 0], &y[n, oh, 0, 0], &argmax[n, oh, 0, 0],
                                 <int64_t*>best, oh)
        free(best)
    if failed:
        raise MemoryError("max_pool2d: out of memory for per-thread scratch")


def max_pool2d_backward(const floating[:, :, :, ::1] dy, const int64_t[:, :, :, ::1] argmax,
                        floating[:, :, :, ::1] dx):
    """Max pooling backward: ``dx[n, argmax, c] += dy`` (windows may overlap).

    Parameters
    ----------
    dy : (N, OH, OW, C) float32 or float64, C-contiguous
        IN: gradient of the pooled output.
    argmax : (N, OH, OW, C) int64
        IN: flat indices from the forward pass.
    dx : (N, H, W, C) same dtype as dy
        OUT: gradient of the input (fully overwritten).

    Returns
    -------
    int
        The number of argmax entries outside [0, H * W); they are skipped and
        the caller must raise.
    """
    cdef Geometry g
    cdef Py_ssize_t n, bad = 0
    g.N, g.H, g.W, g.C = dx.shape[0], dx.shape[1], dx.shape[2], dx.shape[3]
    g.OH, g.OW = dy.shape[1], dy.shape[2]
    if g.N == 0 or g.C == 0:
        return 0
    with nogil, parallel(num_threads=team_size(g.N * g.H * g.W * g.C, PARALLEL_MIN_ELEMENTS)):
        nnkit_flush_denormals()
        for n in prange(g.N, schedule='static'):
            bad += _max_backward_image(&g, &dy[n, 0, 0, 0], &argmax[n, 0, 0, 0], &dx[n, 0, 0, 0])
    return bad


# ----------------------------------------------------------------------------- average pooling
#
# The forward is separable: a window sum is a sum over its rows (one long loop
# over the W * C contiguous elements of each input row) followed by a sliding
# sum over pw columns (long loops again).  Only the final per-window step
# touches C elements at a time, so small channel counts do not drown in loop
# overhead (4x faster than window-by-window at C = 6, equal at C = 64).
# Padding columns live in the scratch row as zeros; padded rows are skipped.
# The backward spreads window by window: measured faster than the separable
# transpose at every channel count (successive window positions add into
# different dx elements, so there is no store-to-load dependency chain, unlike
# a forward that accumulates every position into the same output).

cdef inline Py_ssize_t _avg_span(const Geometry* g) noexcept nogil:
    """Elements of the sliding-sum row: window starts 0, sw, ..., (OW - 1) * sw."""
    return ((g.OW - 1) * g.sw + 1) * g.C


cdef void _avg_forward_row(const Geometry* g, const floating* x, floating* y,
                           floating* cols, floating* sums, Py_ssize_t oh) noexcept nogil:
    """IN x: one image (H, W, C).  OUT y: output row oh, (OW, C).
    SCRATCH cols: (left + W + right, C), zero in the padding columns; sums: _avg_span."""
    cdef Py_ssize_t ow, h, w, j, c, h0, h1, w0, w1, C = g.C
    cdef Py_ssize_t row = g.W * C, span = _avg_span(g)
    cdef floating* mid = cols + g.left * C
    cdef const floating* src
    cdef floating* dst
    cdef floating count
    _window(g, oh, 0, &h0, &h1, &w0, &w1)
    src = x + h0 * row
    for j in range(row):
        mid[j] = src[j]
    for h in range(h0 + 1, h1):
        src = x + h * row
        for j in range(row):
            mid[j] += src[j]
    for j in range(span):
        sums[j] = cols[j]
    for w in range(1, g.pw):
        src = cols + w * C
        for j in range(span):
            sums[j] += src[j]
    for ow in range(g.OW):
        _window(g, oh, ow, &h0, &h1, &w0, &w1)
        count = (h1 - h0) * (w1 - w0)
        src = sums + ow * g.sw * C
        dst = y + ow * C
        for c in range(C):
            dst[c] = src[c] / count


cdef void _avg_backward_image(const Geometry* g, const floating* dy, floating* dx,
                              floating* share) noexcept nogil:
    """IN dy: one image (OH, OW, C).  OUT dx: one image (H, W, C).
    SCRATCH share: (C,)."""
    cdef Py_ssize_t oh, ow, h, w, c, h0, h1, w0, w1, C = g.C
    cdef const floating* dyp
    cdef floating* dxp
    cdef floating count
    memset(dx, 0, g.H * g.W * C * sizeof(floating))
    for oh in range(g.OH):
        for ow in range(g.OW):
            _window(g, oh, ow, &h0, &h1, &w0, &w1)
            count = (h1 - h0) * (w1 - w0)
            dyp = dy + (oh * g.OW + ow) * C
            for c in range(C):
                share[c] = dyp[c] / count
            for h in range(h0, h1):
                for w in range(w0, w1):
                    dxp = dx + (h * g.W + w) * C
                    for c in range(C):
                        dxp[c] += share[c]


def avg_pool2d_forward(const floating[:, :, :, ::1] x, pool_size, strides, padding,
                       floating[:, :, :, ::1] y):
    """Average pooling forward over the real (unpadded) elements of each window.

    Parameters
    ----------
    x : (N, H, W, C) float32 or float64, C-contiguous
        IN: input images.
    pool_size, strides : (int, int)
        Window and step, (height, width).
    padding : ((int, int), (int, int))
        ((top, bottom), (left, right)); each smaller than the pool on its axis.
    y : (N, OH, OW, C) same dtype as x
        OUT: window means.
    """
    cdef Geometry g = _geometry(x.shape, y.shape, pool_size, strides, padding)
    cdef Py_ssize_t row, n, oh, failed = 0
    cdef floating* cols = NULL
    cdef floating* sums = NULL
    if g.N == 0 or g.C == 0:
        return
    with nogil, parallel(num_threads=team_size(g.N * g.H * g.W * g.C, PARALLEL_MIN_ELEMENTS)):
        nnkit_flush_denormals()
        cols = <floating*>calloc((g.left + g.W + g.right) * g.C, sizeof(floating))
        sums = <floating*>malloc(_avg_span(&g) * sizeof(floating))
        for row in prange(g.N * g.OH, schedule='static'):
            n = row // g.OH
            oh = row % g.OH
            if cols == NULL or sums == NULL:
                failed += 1
            else:
                _avg_forward_row(&g, &x[n, 0, 0, 0], &y[n, oh, 0, 0], cols, sums, oh)
        free(cols)
        free(sums)
    if failed:
        raise MemoryError("avg_pool2d: out of memory for per-thread scratch")


def avg_pool2d_backward(const floating[:, :, :, ::1] dy, pool_size, strides, padding,
                        floating[:, :, :, ::1] dx):
    """Average pooling backward: each ``dy / count`` spread over its window's real elements.

    Parameters
    ----------
    dy : (N, OH, OW, C) float32 or float64, C-contiguous
        IN: gradient of the pooled output.
    pool_size, strides, padding
        The forward geometry.
    dx : (N, H, W, C) same dtype as dy
        OUT: gradient of the input (fully overwritten).
    """
    cdef Geometry g = _geometry(dx.shape, dy.shape, pool_size, strides, padding)
    cdef Py_ssize_t n, failed = 0
    cdef floating* share = NULL
    if g.N == 0 or g.C == 0:
        return
    with nogil, parallel(num_threads=team_size(g.N * g.H * g.W * g.C, PARALLEL_MIN_ELEMENTS)):
        nnkit_flush_denormals()
        share = <floating*>malloc(g.C * sizeof(floating))
        for n in prange(g.N, schedule='static'):
            if share == NULL:
                failed += 1
            else:
                _avg_backward_image(&g, &dy[n, 0, 0, 0], &dx[n, 0, 0, 0], share)
        free(share)
    if failed:
        raise MemoryError("avg_pool2d: out of memory for per-thread scratch")
