# DEPTHWISE: groups == C.  A direct channels-last loop over taps whose inner loop runs over channels
# (no GEMM); prange over output rows, or over input rows for dx (a gather: each thread owns its rows).
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport free, malloc

from conv_geometry cimport ConvGeometry, ceil_div, valid_taps
from denormal cimport nnkit_flush_denormals
from runs cimport add_run, copy_run, fma_run, sum_slots, zero_run


cdef enum:
    DW_BLOCK = 16  # channels whose sums stay in registers across all taps (depthwise, multiplier 1)


cdef inline void depthwise_forward_row(const floating* x, const floating* w, const floating* b, floating* y,
                                const ConvGeometry* g, Py_ssize_t n, Py_ssize_t oh) noexcept nogil:
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


cdef inline void depthwise_dx_row(const floating* dy, const floating* w, floating* dx,
                           const ConvGeometry* g, Py_ssize_t n, Py_ssize_t ih) noexcept nogil:
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


cdef inline void depthwise_dw_row(const floating* dy, const floating* x, floating* dw, floating* db,
                           const ConvGeometry* g, Py_ssize_t n, Py_ssize_t oh) noexcept nogil:
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


cdef inline void depthwise_forward(const floating* x, const floating* w, const floating* b, floating* y,
                            const ConvGeometry* g) noexcept nogil:
    cdef Py_ssize_t r
    with parallel(num_threads=g.nthreads):
        nnkit_flush_denormals()
        for r in prange(g.n * g.oh, schedule='dynamic'):
            depthwise_forward_row(x, w, b, y, g, r // g.oh, r % g.oh)


cdef inline int depthwise_backward(const floating* dy, const floating* x, const floating* w,
                            floating* dx, floating* dw, floating* db, const ConvGeometry* g) noexcept nogil:
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
