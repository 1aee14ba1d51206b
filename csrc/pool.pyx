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
from libc.string cimport memcpy, memset

from denormal cimport nnkit_flush_denormals
from pool_geometry cimport Geometry, _window


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
                       floating[:, :, :, ::1] y, int64_t[:, :, :, ::1] argmax, int nthreads):
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
    with nogil, parallel(num_threads=nthreads):
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
                        floating[:, :, :, ::1] dx, int nthreads):
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
    with nogil, parallel(num_threads=nthreads):
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


# ----------------------------------------------------------------------------- average pooling, wide windows
#
# The loops above cost (ph + pw) passes over the input: quadratic in a wide
# window (a 16,384-wide window over 2**20 pixels took 12 s).  Wide windows take
# running sums instead, separably: along H, each output row's vertical sums
# follow from the previous row's (add the rows entering the window, subtract
# those leaving it), then along W the same within a row; the backward pass is
# the adjoint, each input position summing the contiguous run of windows that
# cover it, again as a running sum.  A running sum is restarted from scratch
# whenever its window starts in a new block of ``block`` positions, so the
# rounding of the subtractions never travels further than one window length.
# The cost is linear in input plus output, whatever the window.

cdef struct Run:
    Py_ssize_t block, s, e    # the block of the last window's start, and the window [s, e); block -1: none


cdef inline void _run_reset(Run* run) noexcept nogil:
    run.block, run.s, run.e = -1, 0, 0


cdef inline void _sub_run(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        dst[i] -= src[i]


cdef inline void _add_run(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        dst[i] += src[i]


cdef inline bint _all_finite(const floating* a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating bad = 0
    for i in range(n):
        bad += a[i] - a[i]  # 0 for a finite value, NaN for inf or NaN; a sum vectorises where a test would not
    return bad == 0


cdef void _window_step(Run* run, const floating* src, Py_ssize_t step, Py_ssize_t lo, Py_ssize_t hi,
                       Py_ssize_t s, Py_ssize_t e, Py_ssize_t block, floating* acc, Py_ssize_t m) noexcept nogil:
    """acc (m values) = the sum of the rows in [s, e) ∩ [lo, hi), row r being src + (r - lo) * step.

    Windows come in order (s and e never decrease); each follows from the last one when both start in the
    same block of ``block`` positions, else is summed from scratch."""
    cdef Py_ssize_t r
    if run.block == s // block:
        for r in range(max(run.e, lo), min(e, hi)):  # entering
            _add_run(acc, src + (r - lo) * step, m)
        for r in range(max(run.s, lo), min(s, hi)):  # leaving
            _sub_run(acc, src + (r - lo) * step, m)
    if run.block != s // block or not _all_finite(acc, m):
        # from scratch: a new block, or an inf that left the window (inf - inf is NaN) or a sum that overflowed
        # on the way: the direct sum's answer, inf where it is inf
        memset(acc, 0, m * sizeof(floating))
        for r in range(max(s, lo), min(e, hi)):
            _add_run(acc, src + (r - lo) * step, m)
    run.block, run.s, run.e = s // block, s, e


cdef inline void _covering(Py_ssize_t r, Py_ssize_t k, Py_ssize_t stride, Py_ssize_t nout,
                           Py_ssize_t* s, Py_ssize_t* e) noexcept nogil:
    """The windows o in [s, e) (0 <= o < nout) of length k and step stride that cover padded position r."""
    s[0] = 0 if r - k + 1 <= 0 else min((r - k + stride) // stride, nout)  # ceil((r - k + 1) / stride)
    e[0] = max(min(nout, r // stride + 1), s[0])


cdef void _avg_running_forward_rows(const Geometry* g, const floating* x, floating* y, floating* mid,
                                    floating* acc, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """OUT y: output rows r0..r1 of all images (rows n * OH + oh).  SCRATCH mid: (W, C); acc: (C,)."""
    cdef Py_ssize_t r, n, oh, ow, c, C = g.C, h0, h1, w0, w1, last_n = -1
    cdef Run down, across
    cdef floating count
    cdef floating* dst
    for r in range(r0, r1):
        n, oh = r // g.OH, r % g.OH
        if n != last_n:  # a new image: the vertical sums start afresh
            _run_reset(&down)
            last_n = n
        _window_step(&down, x + n * g.H * g.W * C, g.W * C, g.top, g.top + g.H,
                     oh * g.sh, oh * g.sh + g.ph, g.ph, mid, g.W * C)
        _run_reset(&across)
        for ow in range(g.OW):
            _window_step(&across, mid, C, g.left, g.left + g.W, ow * g.sw, ow * g.sw + g.pw, g.pw, acc, C)
            _window(g, oh, ow, &h0, &h1, &w0, &w1)
            count = (h1 - h0) * (w1 - w0)
            dst = y + (r * g.OW + ow) * C
            for c in range(C):
                dst[c] = acc[c] / count


cdef void _avg_running_backward_image(const Geometry* g, const floating* dy, floating* dx, floating* share,
                                      floating* spread) noexcept nogil:
    """IN dy: one image (OH, OW, C).  OUT dx: one image (H, W, C).
    SCRATCH share: (OW, C), one row of dy / count; spread: (OH, W, C), each dy row spread along W."""
    cdef Py_ssize_t oh, ow, h, w, c, C = g.C, h0, h1, w0, w1, s, e
    cdef Run run
    cdef floating count
    for oh in range(g.OH):  # spread along W: input column w sums the windows (ow) that cover it
        for ow in range(g.OW):
            _window(g, oh, ow, &h0, &h1, &w0, &w1)
            count = (h1 - h0) * (w1 - w0)
            for c in range(C):
                share[ow * C + c] = dy[(oh * g.OW + ow) * C + c] / count
        _run_reset(&run)
        for w in range(g.W):
            _covering(w + g.left, g.pw, g.sw, g.OW, &s, &e)
            _window_step(&run, share, C, 0, g.OW, s, e, (g.pw + g.sw - 1) // g.sw, spread + (oh * g.W + w) * C, C)
            if w + 1 < g.W:  # the next column continues from this one's sums
                memcpy(spread + (oh * g.W + w + 1) * C, spread + (oh * g.W + w) * C, C * sizeof(floating))
    _run_reset(&run)
    for h in range(g.H):  # then along H, the same with whole spread rows
        _covering(h + g.top, g.ph, g.sh, g.OH, &s, &e)
        if h:
            memcpy(dx + h * g.W * C, dx + (h - 1) * g.W * C, g.W * C * sizeof(floating))
        _window_step(&run, spread, g.W * C, 0, g.OH, s, e, (g.ph + g.sh - 1) // g.sh, dx + h * g.W * C, g.W * C)


def avg_pool2d_running_forward(const floating[:, :, :, ::1] x, pool_size, strides, padding,
                               floating[:, :, :, ::1] y, int nthreads):
    """As `avg_pool2d_forward`, by running sums: linear in the input whatever the window (for wide windows)."""
    cdef Geometry g = _geometry(x.shape, y.shape, pool_size, strides, padding)
    cdef Py_ssize_t t, rows = g.N * g.OH, failed = 0
    cdef int team = nthreads  # at most one thread per output row
    cdef floating* mid = NULL
    cdef floating* acc = NULL
    if g.N == 0 or g.C == 0:
        return
    team = <int>min(<Py_ssize_t>team, rows)
    with nogil, parallel(num_threads=team):
        nnkit_flush_denormals()
        mid = <floating*>malloc(g.W * g.C * sizeof(floating))
        acc = <floating*>malloc(g.C * sizeof(floating))
        for t in prange(team, schedule='static'):  # one contiguous run of output rows per thread
            if mid == NULL or acc == NULL:
                failed += 1
            else:
                _avg_running_forward_rows(&g, &x[0, 0, 0, 0], &y[0, 0, 0, 0], mid, acc,
                                          rows * t // team, rows * (t + 1) // team)
        free(mid)
        free(acc)
    if failed:
        raise MemoryError("avg_pool2d: out of memory for per-thread scratch")


def avg_pool2d_running_backward(const floating[:, :, :, ::1] dy, pool_size, strides, padding,
                                floating[:, :, :, ::1] dx, int nthreads):
    """As `avg_pool2d_backward`, by running sums (the adjoint of `avg_pool2d_running_forward`)."""
    cdef Geometry g = _geometry(dx.shape, dy.shape, pool_size, strides, padding)
    cdef Py_ssize_t n, failed = 0
    cdef floating* share = NULL
    cdef floating* spread = NULL
    if g.N == 0 or g.C == 0:
        return
    if g.H * g.W == 0 or g.OH * g.OW == 0:
        memset(&dx[0, 0, 0, 0], 0, g.N * g.H * g.W * g.C * sizeof(floating))
        return
    with nogil, parallel(num_threads=nthreads):
        nnkit_flush_denormals()
        share = <floating*>malloc(g.OW * g.C * sizeof(floating))
        spread = <floating*>malloc(g.OH * g.W * g.C * sizeof(floating))
        for n in prange(g.N, schedule='static'):
            if share == NULL or spread == NULL:
                failed += 1
            else:
                _avg_running_backward_image(&g, &dy[n, 0, 0, 0], &dx[n, 0, 0, 0], share, spread)
        free(share)
        free(spread)
    if failed:
        raise MemoryError("avg_pool2d: out of memory for per-thread scratch")


def avg_pool2d_forward(const floating[:, :, :, ::1] x, pool_size, strides, padding,
                       floating[:, :, :, ::1] y, int nthreads):
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
    with nogil, parallel(num_threads=nthreads):
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
                        floating[:, :, :, ::1] dx, int nthreads):
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
    with nogil, parallel(num_threads=nthreads):
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
