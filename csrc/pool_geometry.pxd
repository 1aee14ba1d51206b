# The geometry of one 2-D pooling (NHWC) and its windows: shared by the pooling kernels (csrc/pool.pyx)
# and the prepared inference chains (csrc/chain.pyx).


cdef struct Geometry:
    Py_ssize_t N, H, W, C, OH, OW, ph, pw, sh, sw, top, left, right


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
