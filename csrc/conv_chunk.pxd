# The three GEMM convolution algorithms' forward pass over one chunk of output rows: shared by the conv
# kernel's OpenMP driver (csrc/conv.pyx) and by the prepared inference chains (csrc/chain.pyx).
from cython cimport floating

from conv_geometry cimport ConvGeometry
from conv_im2col cimport im2col_forward_chunk
from conv_im2col_t cimport im2col_t_forward_chunk
from conv_pointwise cimport pointwise_forward_chunk
from runs cimport copy_run

cdef enum Algorithm:
    ALGO_IM2COL = 0
    ALGO_POINTWISE = 1
    ALGO_DEPTHWISE = 2
    ALGO_IM2COL_T = 3
    ALGO_DIRECT = 4


cdef inline void forward_chunk(const floating* x, const floating* w, const floating* b, floating* y,
                               floating* buf, const ConvGeometry* g, Py_ssize_t r0, Py_ssize_t r1,
                               int algorithm) noexcept nogil:
    """y rows r0..r1 = columns @ w (+ b)."""
    cdef Py_ssize_t p, m = (r1 - r0) * g.ow
    cdef floating* yc = y + r0 * g.ow * g.f
    cdef floating beta = 0
    if b != NULL:
        for p in range(m):
            copy_run(yc + p * g.f, b, g.f)
        beta = 1
    if algorithm == ALGO_IM2COL_T:
        im2col_t_forward_chunk(x, w, beta, yc, buf, g, r0, r1)
    elif algorithm == ALGO_IM2COL:
        im2col_forward_chunk(x, w, beta, yc, buf, g, r0, r1)
    else:
        pointwise_forward_chunk(x, w, beta, yc, g, r0, r1)
