"""2-D convolution kernels, NHWC input and HWIO kernel (float32 and float64).

Four algorithms, chosen by the caller (``nnkit.backend.cython.conv``):

IM2COL     Unfold a chunk of output rows into a column buffer and multiply it
           by the kernel with one GEMM per group.  NHWC makes each column row
           ``KH * KW`` contiguous runs of input channels, and the GEMM result
           is NHWC already.
IM2COL_T   The same with transposed columns (groups == 1), one run per (tap,
           channel) along the output row: for few input channels the runs of
           IM2COL would be a handful of values long.
POINTWISE  1x1, stride 1, no padding: the input itself is the column matrix.
DEPTHWISE  groups == C: a direct channels-last loop over taps whose inner loop
           runs over channels.

Column layout: row ``p`` of a chunk holds output pixel ``p``'s receptive field,
ordered (group, kh, kw, channel-in-group).  For groups == 1 that is the public
(kh, kw, c) order of ``im2col``; for groups > 1, group ``g``'s columns are the
``KH * KW * C / groups`` entries at offset ``g * KG``, a plain submatrix with
leading dimension ``K``.

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

from blas cimport gemm, set_blas_int_max
from denormal cimport nnkit_flush_denormals

cdef enum Algorithm:
    ALGO_IM2COL = 0
    ALGO_POINTWISE = 1
    ALGO_DEPTHWISE = 2
    ALGO_IM2COL_T = 3

IM2COL, POINTWISE, DEPTHWISE, IM2COL_T = ALGO_IM2COL, ALGO_POINTWISE, ALGO_DEPTHWISE, ALGO_IM2COL_T


cdef struct Geom:
    Py_ssize_t n, h, w, c           # input (N, H, W, C)
    Py_ssize_t kh, kw, f            # kernel (KH, KW, C / groups, F)
    Py_ssize_t oh, ow               # output (N, OH, OW, F)
    Py_ssize_t sh, sw, pt, pl, dil_h, dil_w
    Py_ssize_t groups, cg, fg       # groups, channels and filters per group
    Py_ssize_t k, kg                # column length: all groups, one group
    int nthreads                    # OpenMP threads to use (the caller's choice)


cdef Geom make_geom(Py_ssize_t* x_shape, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t f,
                    Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt,
                    Py_ssize_t pl, Py_ssize_t dil_h, Py_ssize_t dil_w, Py_ssize_t groups,
                    int nthreads) noexcept:
    cdef Geom g
    g.n, g.h, g.w, g.c = x_shape[0], x_shape[1], x_shape[2], x_shape[3]
    g.kh, g.kw, g.f, g.oh, g.ow = kh, kw, f, oh, ow
    g.sh, g.sw, g.pt, g.pl, g.dil_h, g.dil_w = sh, sw, pt, pl, dil_h, dil_w
    g.groups, g.cg, g.fg = groups, g.c // groups, f // groups
    g.k, g.kg = kh * kw * g.c, kh * kw * g.c // groups
    g.nthreads = max(nthreads, 1)
    return g


# ----------------------------------------------------------------------------- small loops

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


cdef inline Py_ssize_t ceil_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """ceil(a / b) for b > 0 and any sign of a."""
    return (a + b - 1) // b if a >= 0 else -((-a) // b)


cdef inline void valid_taps(Py_ssize_t lo_pad, Py_ssize_t tap_off, Py_ssize_t stride, Py_ssize_t size,
                            Py_ssize_t out, Py_ssize_t* first, Py_ssize_t* last) noexcept nogil:
    """Output positions o in [first, last) whose input o*stride - lo_pad + tap_off is in [0, size);
    0 <= first <= last <= out."""
    first[0] = min(max(0, ceil_div(lo_pad - tap_off, stride)), out)
    last[0] = max(min(out, ceil_div(size + lo_pad - tap_off, stride)), first[0])


# ----------------------------------------------------------------------------- im2col / col2im

cdef void im2col_row(const floating* x, floating* cols, const Geom* g,
                     Py_ssize_t n, Py_ssize_t oh) noexcept nogil:
    """Columns of the OW output pixels of output row (n, oh), group-major."""
    cdef Py_ssize_t ow, i, j, grp, ih, iw, iw0
    cdef const floating* xrow
    cdef floating* dst
    cdef bint whole_rows = g.groups == 1 and g.dil_w == 1
    for ow in range(g.ow):
        iw0 = ow * g.sw - g.pl
        for i in range(g.kh):
            ih = oh * g.sh - g.pt + i * g.dil_h
            dst = cols + ow * g.k + i * g.kw * g.cg
            if ih < 0 or ih >= g.h:
                for grp in range(g.groups):
                    zero_run(dst + grp * g.kg, g.kw * g.cg)
                continue
            xrow = x + (n * g.h + ih) * g.w * g.c
            if whole_rows and iw0 >= 0 and iw0 + g.kw <= g.w:
                copy_run(dst, xrow + iw0 * g.c, g.kw * g.c)  # KW taps side by side in x
                continue
            for j in range(g.kw):
                iw = iw0 + j * g.dil_w
                for grp in range(g.groups):
                    if 0 <= iw < g.w:
                        copy_run(dst + grp * g.kg + j * g.cg, xrow + iw * g.c + grp * g.cg, g.cg)
                    else:
                        zero_run(dst + grp * g.kg + j * g.cg, g.cg)


cdef void col2im_row(const floating* cols, floating* dx, const Geom* g, Py_ssize_t n, Py_ssize_t ih,
                     Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """dx[n, ih] += every column entry of output rows r0..r1 that was read from it."""
    cdef Py_ssize_t i, j, grp, t, oh, r, ow, iw, iw0
    cdef const floating* crow
    cdef const floating* src
    cdef floating* dxrow = dx + (n * g.h + ih) * g.w * g.c
    cdef bint whole_rows = g.groups == 1 and g.dil_w == 1
    for i in range(g.kh):
        t = ih + g.pt - i * g.dil_h
        if t < 0 or t % g.sh != 0:
            continue
        oh = t // g.sh
        r = n * g.oh + oh
        if oh >= g.oh or r < r0 or r >= r1:
            continue
        crow = cols + (r - r0) * g.ow * g.k + i * g.kw * g.cg
        for ow in range(g.ow):
            iw0 = ow * g.sw - g.pl
            src = crow + ow * g.k
            if whole_rows and iw0 >= 0 and iw0 + g.kw <= g.w:
                add_run(dxrow + iw0 * g.c, src, g.kw * g.c)
                continue
            for j in range(g.kw):
                iw = iw0 + j * g.dil_w
                if 0 <= iw < g.w:
                    for grp in range(g.groups):
                        add_run(dxrow + iw * g.c + grp * g.cg, src + grp * g.kg + j * g.cg, g.cg)


cdef void im2col_t_rows(const floating* x, floating* cols, const Geom* g,
                       Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Transposed columns (groups == 1) of output rows r0..r1: cols[(i, j, c), p], leading
    dimension m = (r1 - r0) * OW.  Each (tap, channel) is a run along ow: for C == 1 and
    stride 1 a contiguous copy, where the row-major layout would copy KW values at a time."""
    cdef Py_ssize_t m = (r1 - r0) * g.ow, step = g.sw * g.c
    cdef Py_ssize_t r, n, oh, i, j, c, ih, first, last, x_off
    cdef floating* dst
    for i in range(g.kh):
        for j in range(g.kw):
            valid_taps(g.pl, j * g.dil_w, g.sw, g.w, g.ow, &first, &last)
            x_off = (first * g.sw - g.pl + j * g.dil_w) * g.c
            for c in range(g.c):
                dst = cols + ((i * g.kw + j) * g.c + c) * m
                n, oh = r0 // g.oh, r0 % g.oh
                for r in range(r0, r1):
                    ih = oh * g.sh - g.pt + i * g.dil_h
                    if ih < 0 or ih >= g.h:
                        zero_run(dst, g.ow)
                    else:
                        zero_run(dst, first)
                        gather_run(dst + first, x + (n * g.h + ih) * g.w * g.c + x_off + c, step,
                                   last - first)
                        zero_run(dst + last, g.ow - last)
                    dst += g.ow
                    oh += 1
                    if oh == g.oh:
                        n, oh = n + 1, 0


cdef void col2im_t_rows(const floating* cols, floating* dx, const Geom* g,
                        Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Adjoint of `im2col_t_rows`: dx += the transposed columns of output rows r0..r1."""
    cdef Py_ssize_t m = (r1 - r0) * g.ow, step = g.sw * g.c
    cdef Py_ssize_t r, n, oh, i, j, c, ih, first, last, x_off
    cdef const floating* src
    for i in range(g.kh):
        for j in range(g.kw):
            valid_taps(g.pl, j * g.dil_w, g.sw, g.w, g.ow, &first, &last)
            x_off = (first * g.sw - g.pl + j * g.dil_w) * g.c
            for c in range(g.c):
                src = cols + ((i * g.kw + j) * g.c + c) * m + first
                n, oh = r0 // g.oh, r0 % g.oh
                for r in range(r0, r1):
                    ih = oh * g.sh - g.pt + i * g.dil_h
                    if 0 <= ih < g.h:
                        scatter_add_run(dx + (n * g.h + ih) * g.w * g.c + x_off + c, step, src, last - first)
                    src += g.ow
                    oh += 1
                    if oh == g.oh:
                        n, oh = n + 1, 0


# ----------------------------------------------------------------------------- depthwise (groups == C)

cdef enum:
    DW_BLOCK = 16  # channels whose sums stay in registers across all taps (depthwise, multiplier 1)


cdef void depthwise_forward_row(const floating* x, const floating* w, const floating* b, floating* y,
                                const Geom* g, Py_ssize_t n, Py_ssize_t oh) noexcept nogil:
    """y[n, oh, ow, c*m + q] = b + sum_taps x[n, ih, iw, c] * w[i, j, 0, c*m + q] for one output row.

    Multiplier 1: for each pixel and block of DW_BLOCK channels, the sum over every tap
    is kept in registers and stored once."""
    cdef Py_ssize_t ow, i, j, ih, c, cb, c0, q, t, first, last, iw0, j_lo, j_hi
    cdef Py_ssize_t mult = g.fg, xstep = g.dil_w * g.c
    cdef floating acc[DW_BLOCK]
    cdef floating* yp
    cdef const floating* xp
    cdef const floating* wp
    cdef floating xv
    cdef floating* yrow = y + (n * g.oh + oh) * g.ow * g.f
    if mult == 1:
        for ow in range(g.ow):
            iw0 = ow * g.sw - g.pl
            j_lo = max(0, ceil_div(-iw0, g.dil_w))
            j_hi = min(g.kw, ceil_div(g.w - iw0, g.dil_w))
            yp = yrow + ow * g.f
            for cb in range(g.c // DW_BLOCK):
                c0 = cb * DW_BLOCK
                for t in range(DW_BLOCK):
                    acc[t] = 0 if b == NULL else b[c0 + t]
                for i in range(g.kh):
                    ih = oh * g.sh - g.pt + i * g.dil_h
                    if 0 <= ih < g.h:  # pointers at tap j_lo, the first one inside the row
                        xp = x + (((n * g.h + ih) * g.w + iw0) * g.c + j_lo * xstep + c0)
                        wp = w + (i * g.kw + j_lo) * g.f + c0
                        for j in range(j_hi - j_lo):
                            for t in range(DW_BLOCK):
                                acc[t] += xp[j * xstep + t] * wp[j * g.f + t]
                for t in range(DW_BLOCK):
                    yp[c0 + t] = acc[t]
            for c in range(g.c - g.c % DW_BLOCK, g.c):  # the last channels, one at a time
                acc[0] = 0 if b == NULL else b[c]
                for i in range(g.kh):
                    ih = oh * g.sh - g.pt + i * g.dil_h
                    if 0 <= ih < g.h:
                        xp = x + (((n * g.h + ih) * g.w + iw0) * g.c + j_lo * xstep + c)
                        wp = w + (i * g.kw + j_lo) * g.f + c
                        for j in range(j_hi - j_lo):
                            acc[0] += xp[j * xstep] * wp[j * g.f]
                yp[c] = acc[0]
        return
    for ow in range(g.ow):
        if b != NULL:
            copy_run(yrow + ow * g.f, b, g.f)
        else:
            zero_run(yrow + ow * g.f, g.f)
    for i in range(g.kh):
        ih = oh * g.sh - g.pt + i * g.dil_h
        if ih < 0 or ih >= g.h:
            continue
        for j in range(g.kw):
            wp = w + (i * g.kw + j) * g.f
            valid_taps(g.pl, j * g.dil_w, g.sw, g.w, g.ow, &first, &last)
            for ow in range(first, last):
                yp = yrow + ow * g.f
                xp = x + ((n * g.h + ih) * g.w + ow * g.sw - g.pl + j * g.dil_w) * g.c
                for c in range(g.c):
                    xv = xp[c]
                    for q in range(mult):
                        yp[c * mult + q] += xv * wp[c * mult + q]


cdef void depthwise_dx_row(const floating* dy, const floating* w, floating* dx,
                           const Geom* g, Py_ssize_t n, Py_ssize_t ih) noexcept nogil:
    """dx[n, ih] (written, not accumulated) = sum over the taps that read it of dy * w.

    Multiplier 1 and width stride 1: each pixel's sum over taps stays in registers, as in
    `depthwise_forward_row`; otherwise the taps are added in turn."""
    cdef Py_ssize_t i, j, t, oh, ow, c, cb, c0, q, first, last, iw, j_lo, j_hi
    cdef Py_ssize_t mult = g.fg, ystep = g.dil_w * g.f
    cdef floating acc[DW_BLOCK]
    cdef floating* dxp
    cdef const floating* dyp
    cdef const floating* wp
    cdef floating* dxrow = dx + (n * g.h + ih) * g.w * g.c
    cdef Py_ssize_t row_of[16]  # output row read by kernel row i, or -1
    cdef bint blocked = mult == 1 and g.sw == 1 and g.kh <= 16
    for i in range(g.kh):
        t = ih + g.pt - i * g.dil_h
        oh = t // g.sh
        if blocked:
            row_of[i] = oh if t >= 0 and t % g.sh == 0 and oh < g.oh else -1
    if blocked:
        for iw in range(g.w):
            # taps j with output column ow = iw + pl - j * dil_w in [0, OW)
            j_lo = max(0, ceil_div(iw + g.pl - g.ow + 1, g.dil_w))
            j_hi = min(g.kw, (iw + g.pl) // g.dil_w + 1) if iw + g.pl >= 0 else 0
            dxp = dxrow + iw * g.c
            for cb in range(g.c // DW_BLOCK):
                c0 = cb * DW_BLOCK
                for t in range(DW_BLOCK):
                    acc[t] = 0
                for i in range(g.kh):
                    if row_of[i] >= 0:  # pointers at tap j_lo, output column iw + pl - j_lo * dil_w
                        dyp = dy + (((n * g.oh + row_of[i]) * g.ow + iw + g.pl) * g.f - j_lo * ystep + c0)
                        wp = w + (i * g.kw + j_lo) * g.f + c0
                        for j in range(j_hi - j_lo):
                            for t in range(DW_BLOCK):
                                acc[t] += dyp[t - j * ystep] * wp[j * g.f + t]
                for t in range(DW_BLOCK):
                    dxp[c0 + t] = acc[t]
            for c in range(g.c - g.c % DW_BLOCK, g.c):
                acc[0] = 0
                for i in range(g.kh):
                    if row_of[i] >= 0:
                        dyp = dy + (((n * g.oh + row_of[i]) * g.ow + iw + g.pl) * g.f - j_lo * ystep + c)
                        wp = w + (i * g.kw + j_lo) * g.f + c
                        for j in range(j_hi - j_lo):
                            acc[0] += dyp[-j * ystep] * wp[j * g.f]
                dxp[c] = acc[0]
        return
    zero_run(dxrow, g.w * g.c)
    for i in range(g.kh):
        t = ih + g.pt - i * g.dil_h
        if t < 0 or t % g.sh != 0:
            continue
        oh = t // g.sh
        if oh >= g.oh:
            continue
        for j in range(g.kw):
            wp = w + (i * g.kw + j) * g.f
            valid_taps(g.pl, j * g.dil_w, g.sw, g.w, g.ow, &first, &last)
            for ow in range(first, last):
                dyp = dy + ((n * g.oh + oh) * g.ow + ow) * g.f
                dxp = dxrow + (ow * g.sw - g.pl + j * g.dil_w) * g.c
                if mult == 1:
                    fma_run(dxp, dyp, wp, g.c)
                else:
                    for c in range(g.c):
                        acc[0] = 0
                        for q in range(mult):
                            acc[0] += dyp[c * mult + q] * wp[c * mult + q]
                        dxp[c] += acc[0]


cdef void depthwise_dw_row(const floating* dy, const floating* x, floating* dw, floating* db,
                           const Geom* g, Py_ssize_t n, Py_ssize_t oh) noexcept nogil:
    """dw[i, j, 0, c*m + q] += sum over output row (n, oh) of dy * x, and db += that row of dy
    (a thread's partial sums; either may be NULL).

    Multiplier 1: per tap and block of channels, the sum along the row stays in registers."""
    cdef Py_ssize_t i, j, ih, ow, c, cb, c0, q, t, first, last
    cdef Py_ssize_t mult = g.fg, xstep = g.sw * g.c
    cdef floating acc[DW_BLOCK]
    cdef floating* dwp
    cdef const floating* dyp
    cdef const floating* xp
    cdef floating xv
    if db != NULL:
        for ow in range(g.ow):
            add_run(db, dy + ((n * g.oh + oh) * g.ow + ow) * g.f, g.f)
    if dw == NULL:
        return
    for i in range(g.kh):
        ih = oh * g.sh - g.pt + i * g.dil_h
        if ih < 0 or ih >= g.h:
            continue
        for j in range(g.kw):
            dwp = dw + (i * g.kw + j) * g.f
            valid_taps(g.pl, j * g.dil_w, g.sw, g.w, g.ow, &first, &last)
            if first == last:
                continue
            dyp = dy + ((n * g.oh + oh) * g.ow + first) * g.f
            xp = x + ((n * g.h + ih) * g.w + first * g.sw - g.pl + j * g.dil_w) * g.c
            if mult == 1:
                for cb in range(g.c // DW_BLOCK):
                    c0 = cb * DW_BLOCK
                    for t in range(DW_BLOCK):
                        acc[t] = 0
                    for ow in range(last - first):
                        for t in range(DW_BLOCK):
                            acc[t] += dyp[ow * g.f + c0 + t] * xp[ow * xstep + c0 + t]
                    for t in range(DW_BLOCK):
                        dwp[c0 + t] += acc[t]
                for c in range(g.c - g.c % DW_BLOCK, g.c):
                    acc[0] = 0
                    for ow in range(last - first):
                        acc[0] += dyp[ow * g.f + c] * xp[ow * xstep + c]
                    dwp[c] += acc[0]
            else:
                for ow in range(last - first):
                    for c in range(g.c):
                        xv = xp[ow * xstep + c]
                        for q in range(mult):
                            dwp[c * mult + q] += xv * dyp[ow * g.f + c * mult + q]


cdef void depthwise_forward(const floating* x, const floating* w, const floating* b, floating* y,
                            const Geom* g) noexcept nogil:
    cdef Py_ssize_t r
    with parallel(num_threads=g.nthreads):
        nnkit_flush_denormals()
        for r in prange(g.n * g.oh, schedule='dynamic'):
            depthwise_forward_row(x, w, b, y, g, r // g.oh, r % g.oh)


cdef void sum_slots(floating* slots, Py_ssize_t size, int nslots, floating* a, Py_ssize_t a_size,
                    floating* b) noexcept nogil:
    """Add up ``nslots`` partial sums of ``size`` values, in slot order; the first ``a_size``
    values go to ``a``, the rest to ``b`` (either may be NULL when it has no values)."""
    cdef Py_ssize_t t
    for t in range(1, nslots):
        add_run(slots, slots + t * size, size)
    copy_run(a, slots, a_size)
    copy_run(b, slots + a_size, size - a_size)


cdef int depthwise_backward(const floating* dy, const floating* x, const floating* w,
                            floating* dx, floating* dw, floating* db, const Geom* g) noexcept nogil:
    """Any of dx, dw, db (NULL when not wanted); returns -1 when out of memory."""
    cdef Py_ssize_t r, dw_size = 0 if dw == NULL else g.kh * g.kw * g.f
    cdef Py_ssize_t size = dw_size + (0 if db == NULL else g.f)
    cdef floating* slots
    cdef floating* slot = NULL
    if dx != NULL:
        with parallel(num_threads=g.nthreads):
            nnkit_flush_denormals()
            for r in prange(g.n * g.h, schedule='dynamic'):
                depthwise_dx_row(dy, w, dx, g, r // g.h, r % g.h)
    if size == 0:
        return 0
    slots = <floating*>malloc(g.nthreads * size * sizeof(floating))
    if slots == NULL:
        return -1
    zero_run(slots, g.nthreads * size)
    with parallel(num_threads=g.nthreads):  # static: the same rows add into the same slot every run
        nnkit_flush_denormals()
        slot = slots + threadid() * size
        for r in prange(g.n * g.oh, schedule='static'):
            depthwise_dw_row(dy, x, slot if dw != NULL else NULL, slot + dw_size if db != NULL else NULL,
                             g, r // g.oh, r % g.oh)
    sum_slots(slots, size, g.nthreads, dw, dw_size, db)
    free(slots)
    return 0


# ------------------------------------------------------------------------- im2col + GEMM, a chunk per task

cdef inline Py_ssize_t phase_count(const Geom* g, Py_ssize_t chunk_rows) noexcept nogil:
    """Chunks P apart never fold into the same dx row: (KH-1)*dil_h < ((P-1)*chunk_rows + 1)*sh."""
    cdef Py_ssize_t p = 1
    if chunk_rows % g.oh == 0:  # whole images: chunks never share a dx row
        return 1
    while (g.kh - 1) * g.dil_h >= ((p - 1) * chunk_rows + 1) * g.sh:
        p += 1
    return p


cdef void forward_chunk(const floating* x, const floating* w, const floating* b, floating* y,
                        floating* buf, const Geom* g, Py_ssize_t r0, Py_ssize_t r1,
                        int algorithm) noexcept nogil:
    """y rows r0..r1 = columns @ w (+ b), one GEMM per group."""
    cdef Py_ssize_t r, p, grp, m = (r1 - r0) * g.ow
    cdef const floating* cols = x + r0 * g.ow * g.c  # POINTWISE: x is the column matrix
    cdef Py_ssize_t ld = g.c
    cdef floating* yc = y + r0 * g.ow * g.f
    cdef floating beta = 0
    if b != NULL:
        for p in range(m):
            copy_run(yc + p * g.f, b, g.f)
        beta = 1
    if algorithm == ALGO_IM2COL_T:
        im2col_t_rows(x, buf, g, r0, r1)
        gemm(True, False, m, g.f, g.k, 1, buf, m, w, g.f, beta, yc, g.f)
        return
    if algorithm == ALGO_IM2COL:
        for r in range(r0, r1):
            im2col_row(x, buf + (r - r0) * g.ow * g.k, g, r // g.oh, r % g.oh)
        cols, ld = buf, g.k
    for grp in range(g.groups):
        gemm(False, False, m, g.fg, g.kg, 1, cols + grp * g.kg, ld,
             w + grp * g.fg, g.f, beta, yc + grp * g.fg, g.f)


cdef void fold_rows(const floating* cols, floating* dx, const Geom* g,
                    Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """col2im of the (row-major) columns of output rows r0..r1 into the dx rows they read."""
    cdef Py_ssize_t n, oh_a, oh_b, ih
    for n in range(r0 // g.oh, (r1 - 1) // g.oh + 1):
        oh_a = max(r0 - n * g.oh, 0)
        oh_b = min(r1 - n * g.oh, g.oh)
        for ih in range(max(oh_a * g.sh - g.pt, 0),
                        min((oh_b - 1) * g.sh - g.pt + (g.kh - 1) * g.dil_h + 1, g.h)):
            col2im_row(cols, dx, g, n, ih, r0, r1)


cdef void backward_chunk(const floating* dy, const floating* x, const floating* w, floating* dx,
                         floating* dw, floating* db, floating* buf, const Geom* g, Py_ssize_t r0,
                         Py_ssize_t r1, int algorithm) noexcept nogil:
    """For rows r0..r1: dw += cols^T @ dy, db += column sums of dy, dx += col2im(dy @ w^T)
    (dx written when POINTWISE).  Any of dx, dw, db may be NULL."""
    cdef Py_ssize_t r, p, grp, m = (r1 - r0) * g.ow
    cdef const floating* cols = x + r0 * g.ow * g.c
    cdef Py_ssize_t ld = g.c
    cdef const floating* dyc = dy + r0 * g.ow * g.f
    if db != NULL:
        for p in range(m):
            add_run(db, dyc + p * g.f, g.f)
    if algorithm == ALGO_IM2COL_T:
        if dw != NULL:
            im2col_t_rows(x, buf, g, r0, r1)
            gemm(False, False, g.k, g.f, m, 1, buf, m, dyc, g.f, 1, dw, g.f)
        if dx != NULL:
            gemm(False, True, g.k, m, g.f, 1, w, g.f, dyc, g.f, 0, buf, m)
            col2im_t_rows(buf, dx, g, r0, r1)
        return
    if dw != NULL:
        if algorithm == ALGO_IM2COL:
            for r in range(r0, r1):
                im2col_row(x, buf + (r - r0) * g.ow * g.k, g, r // g.oh, r % g.oh)
            cols, ld = buf, g.k
        for grp in range(g.groups):
            gemm(True, False, g.kg, g.fg, m, 1, cols + grp * g.kg, ld,
                 dyc + grp * g.fg, g.f, 1, dw + grp * g.fg, g.f)
    if dx == NULL:
        return
    if algorithm == ALGO_POINTWISE:  # dx rows are the dcols rows
        for grp in range(g.groups):
            gemm(False, True, m, g.cg, g.fg, 1, dyc + grp * g.fg, g.f,
                 w + grp * g.fg, g.f, 0, dx + r0 * g.ow * g.c + grp * g.cg, g.c)
        return
    for grp in range(g.groups):
        gemm(False, True, m, g.kg, g.fg, 1, dyc + grp * g.fg, g.f,
             w + grp * g.fg, g.f, 0, buf + grp * g.kg, g.k)
    fold_rows(buf, dx, g, r0, r1)


cdef int gemm_forward(const floating* x, const floating* w, const floating* b, floating* y,
                      Py_ssize_t chunk_rows, const Geom* g, int algorithm) noexcept nogil:
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
                       floating* dw, floating* db, Py_ssize_t chunk_rows, const Geom* g,
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
        ``IM2COL``, ``POINTWISE`` (1x1, stride 1, no padding) or
        ``DEPTHWISE`` (groups == C).
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
    cdef Geom g = make_geom(x.shape, w.shape[0], w.shape[1], w.shape[3], y.shape[1], y.shape[2],
                            sh, sw, pt, pl, dil_h, dil_w, groups, nthreads)
    cdef const floating* bp = NULL
    if b is not None:
        bp = &b[0]
    cdef int status = 0
    with nogil:
        if algorithm == ALGO_DEPTHWISE:
            depthwise_forward(&x[0, 0, 0, 0], &w[0, 0, 0, 0], bp, &y[0, 0, 0, 0], &g)
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
    cdef Geom g = make_geom(x.shape, w.shape[0], w.shape[1], w.shape[3], dy.shape[1], dy.shape[2],
                            sh, sw, pt, pl, dil_h, dil_w, groups, nthreads)
    cdef floating* dxp = NULL if dx is None else &dx[0, 0, 0, 0]
    cdef floating* dwp = NULL if dw is None else &dw[0, 0, 0, 0]
    cdef floating* dbp = NULL if db is None else &db[0]
    cdef int status = 0
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
    cdef Geom g = make_geom(x.shape, kh, kw, x.shape[3], oh, ow, sh, sw, pt, pl, dil_h, dil_w, 1,
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
    cdef Geom g = make_geom(dx.shape, kh, kw, dx.shape[3], oh, ow, sh, sw, pt, pl, dil_h, dil_w, 1,
                            nthreads)
    cdef Py_ssize_t q
    with nogil, parallel(num_threads=g.nthreads):
        nnkit_flush_denormals()
        for q in prange(g.n * g.h, schedule='dynamic'):
            col2im_row(&cols[0, 0], &dx[0, 0, 0, 0], &g, q // g.h, q % g.h, 0, g.n * g.oh)


def _set_blas_int_max(Py_ssize_t limit):
    """Tests only: cut this module's GEMMs at ``limit`` instead of INT_MAX; returns the previous limit."""
    return set_blas_int_max(limit)
