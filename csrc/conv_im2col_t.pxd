# IM2COL_T: IM2COL with transposed columns (groups == 1), one run per (tap, channel) along the output
# row: for few input channels the runs of IM2COL would be a handful of values long.
from cython cimport floating

from blas cimport gemm
from conv_geometry cimport ConvGeometry, valid_taps
from runs cimport gather_run, scatter_add_run, zero_run


cdef inline void im2col_t_rows(const floating* x, floating* cols, const ConvGeometry* g,
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


cdef inline void col2im_t_rows(const floating* cols, floating* dx, const ConvGeometry* g,
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


cdef inline void im2col_t_forward_chunk(const floating* x, const floating* w, floating beta, floating* yc,
                                        floating* buf, const ConvGeometry* g, Py_ssize_t r0,
                                        Py_ssize_t r1) noexcept nogil:
    """yc (output rows r0..r1) = columns^T @ w + beta * yc."""
    cdef Py_ssize_t m = (r1 - r0) * g.ow
    im2col_t_rows(x, buf, g, r0, r1)
    gemm(True, False, m, g.f, g.k, 1, buf, m, w, g.f, beta, yc, g.f)


cdef inline void im2col_t_backward_chunk(const floating* dyc, const floating* x, const floating* w,
                                         floating* dx, floating* dw, floating* buf, const ConvGeometry* g,
                                         Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """For output rows r0..r1 (dyc): dw += columns @ dy, dx += col2im_t(w @ dy^T); dx or dw may be NULL."""
    cdef Py_ssize_t m = (r1 - r0) * g.ow
    if dw != NULL:
        im2col_t_rows(x, buf, g, r0, r1)
        gemm(False, False, g.k, g.f, m, 1, buf, m, dyc, g.f, 1, dw, g.f)
    if dx != NULL:
        gemm(False, True, g.k, m, g.f, 1, w, g.f, dyc, g.f, 0, buf, m)
        col2im_t_rows(buf, dx, g, r0, r1)
