# POINTWISE: 1x1, stride 1, no padding.  The input itself is the column matrix (K == C), so this is
# IM2COL's grouped GEMMs with no unfolding and, for dx, no folding.
from cython cimport floating

from conv_geometry cimport ConvGeometry
from conv_im2col cimport add_columns_t_times_dy, columns_times_kernel, dy_times_kernel_t


cdef inline void pointwise_forward_chunk(const floating* x, const floating* w, floating beta, floating* yc,
                                         const ConvGeometry* g, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """yc (output rows r0..r1) = x rows r0..r1 @ w + beta * yc."""
    columns_times_kernel(x + r0 * g.ow * g.c, g.c, w, beta, yc, (r1 - r0) * g.ow, g)


cdef inline void pointwise_backward_chunk(const floating* dyc, const floating* x, const floating* w,
                                          floating* dx, floating* dw, const ConvGeometry* g, Py_ssize_t r0,
                                          Py_ssize_t r1) noexcept nogil:
    """For output rows r0..r1 (dyc): dw += x^T @ dy, dx (written) = dy @ w^T; dx or dw may be NULL."""
    cdef Py_ssize_t m = (r1 - r0) * g.ow
    if dw != NULL:
        add_columns_t_times_dy(x + r0 * g.ow * g.c, g.c, dyc, dw, m, g)
    if dx != NULL:
        dy_times_kernel_t(dyc, w, dx + r0 * g.ow * g.c, g.c, m, g)
