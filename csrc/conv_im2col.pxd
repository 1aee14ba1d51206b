# IM2COL: unfold a chunk of output rows into a column buffer and multiply it by the kernel with one
# GEMM per group.  NHWC makes each column row KH * KW contiguous runs of input channels, and the GEMM
# result is NHWC already.
#
# Column layout: row p of a chunk holds output pixel p's receptive field, ordered (group, kh, kw,
# channel-in-group).  For groups == 1 that is the public (kh, kw, c) order of `im2col`; for groups > 1,
# group g's columns are the KH * KW * C / groups entries at offset g * KG, a plain submatrix with
# leading dimension K.  The grouped GEMMs below serve POINTWISE too (csrc/conv_pointwise.pxd), whose
# column matrix is the input itself.
from cython cimport floating

from blas cimport gemm
from conv_geometry cimport ConvGeometry
from runs cimport add_run, copy_run, zero_run


cdef inline void im2col_row(const floating* x, floating* cols, const ConvGeometry* g,
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


cdef inline void col2im_row(const floating* cols, floating* dx, const ConvGeometry* g, Py_ssize_t n,
                            Py_ssize_t ih, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
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


cdef inline void fold_rows(const floating* cols, floating* dx, const ConvGeometry* g,
                           Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """col2im of the (row-major) columns of output rows r0..r1 into the dx rows they read."""
    cdef Py_ssize_t n, oh_a, oh_b, ih
    for n in range(r0 // g.oh, (r1 - 1) // g.oh + 1):
        oh_a = max(r0 - n * g.oh, 0)
        oh_b = min(r1 - n * g.oh, g.oh)
        for ih in range(max(oh_a * g.sh - g.pt, 0),
                        min((oh_b - 1) * g.sh - g.pt + (g.kh - 1) * g.dil_h + 1, g.h)):
            col2im_row(cols, dx, g, n, ih, r0, r1)


cdef inline void unfold_rows(const floating* x, floating* cols, const ConvGeometry* g,
                             Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """The columns of output rows r0..r1, row after row."""
    cdef Py_ssize_t r
    for r in range(r0, r1):
        im2col_row(x, cols + (r - r0) * g.ow * g.k, g, r // g.oh, r % g.oh)


# ----------------------------------------------------------------------------- one GEMM per group

cdef inline void columns_times_kernel(const floating* cols, Py_ssize_t ld, const floating* w, floating beta,
                                      floating* yc, Py_ssize_t m, const ConvGeometry* g) noexcept nogil:
    """yc (m x F) = cols @ w + beta * yc."""
    cdef Py_ssize_t grp
    for grp in range(g.groups):
        gemm(False, False, m, g.fg, g.kg, 1, cols + grp * g.kg, ld,
             w + grp * g.fg, g.f, beta, yc + grp * g.fg, g.f)


cdef inline void add_columns_t_times_dy(const floating* cols, Py_ssize_t ld, const floating* dyc, floating* dw,
                                        Py_ssize_t m, const ConvGeometry* g) noexcept nogil:
    """dw += cols^T @ dyc (dyc: m x F)."""
    cdef Py_ssize_t grp
    for grp in range(g.groups):
        gemm(True, False, g.kg, g.fg, m, 1, cols + grp * g.kg, ld,
             dyc + grp * g.fg, g.f, 1, dw + grp * g.fg, g.f)


cdef inline void dy_times_kernel_t(const floating* dyc, const floating* w, floating* dcols, Py_ssize_t ld,
                                   Py_ssize_t m, const ConvGeometry* g) noexcept nogil:
    """dcols (m x K, leading dimension ld) = dyc @ w^T: the gradient of the columns."""
    cdef Py_ssize_t grp
    for grp in range(g.groups):
        gemm(False, True, m, g.kg, g.fg, 1, dyc + grp * g.fg, g.f,
             w + grp * g.fg, g.f, 0, dcols + grp * g.kg, ld)


# ----------------------------------------------------------------------------- a chunk of output rows

cdef inline void im2col_forward_chunk(const floating* x, const floating* w, floating beta, floating* yc,
                                      floating* buf, const ConvGeometry* g, Py_ssize_t r0,
                                      Py_ssize_t r1) noexcept nogil:
    """yc (output rows r0..r1) = columns @ w + beta * yc."""
    unfold_rows(x, buf, g, r0, r1)
    columns_times_kernel(buf, g.k, w, beta, yc, (r1 - r0) * g.ow, g)


cdef inline void im2col_backward_chunk(const floating* dyc, const floating* x, const floating* w, floating* dx,
                                       floating* dw, floating* buf, const ConvGeometry* g, Py_ssize_t r0,
                                       Py_ssize_t r1) noexcept nogil:
    """For output rows r0..r1 (dyc): dw += columns^T @ dy, dx += col2im(dy @ w^T); dx or dw may be NULL."""
    cdef Py_ssize_t m = (r1 - r0) * g.ow
    if dw != NULL:
        unfold_rows(x, buf, g, r0, r1)
        add_columns_t_times_dy(buf, g.k, dyc, dw, m, g)
    if dx != NULL:
        dy_times_kernel_t(dyc, w, buf, g.k, m, g)
        fold_rows(buf, dx, g, r0, r1)


cdef inline Py_ssize_t phase_count(const ConvGeometry* g, Py_ssize_t chunk_rows) noexcept nogil:
    """Chunks P apart never fold into the same dx row: (KH-1)*dil_h < ((P-1)*chunk_rows + 1)*sh."""
    cdef Py_ssize_t p = 1
    if chunk_rows % g.oh == 0:  # whole images: chunks never share a dx row
        return 1
    while (g.kh - 1) * g.dil_h >= ((p - 1) * chunk_rows + 1) * g.sh:
        p += 1
    return p
