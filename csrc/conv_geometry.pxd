# The geometry of one 2-D convolution (NHWC input, HWIO kernel), shared by every conv algorithm
# (csrc/conv_*.pxd) and by Winograd (csrc/winograd.pyx), and the index arithmetic on it.


cdef struct ConvGeometry:
    Py_ssize_t n, h, w, c           # input (N, H, W, C)
    Py_ssize_t kh, kw, f            # kernel (KH, KW, C / groups, F)
    Py_ssize_t oh, ow               # output (N, OH, OW, F)
    Py_ssize_t sh, sw, pt, pl       # strides, top/left padding (bottom/right follow from OH, OW)
    Py_ssize_t dil_h, dil_w         # dilation
    Py_ssize_t groups, cg, fg       # groups, channels and filters per group
    Py_ssize_t k, kg                # column length: all groups, one group
    int nthreads                    # OpenMP threads to use (the caller's choice)


cdef inline ConvGeometry conv_geometry(const Py_ssize_t* x_shape, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t f,
                                       Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t sh, Py_ssize_t sw,
                                       Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dil_h, Py_ssize_t dil_w,
                                       Py_ssize_t groups, int nthreads) noexcept:
    """The geometry of a convolution of an (N, H, W, C) input ``x_shape`` into an (N, OH, OW, F) output."""
    cdef ConvGeometry g
    g.n, g.h, g.w, g.c = x_shape[0], x_shape[1], x_shape[2], x_shape[3]
    g.kh, g.kw, g.f, g.oh, g.ow = kh, kw, f, oh, ow
    g.sh, g.sw, g.pt, g.pl, g.dil_h, g.dil_w = sh, sw, pt, pl, dil_h, dil_w
    g.groups, g.cg, g.fg = groups, g.c // groups, f // groups
    g.k, g.kg = kh * kw * g.c, kh * kw * g.c // groups
    g.nthreads = max(nthreads, 1)
    return g


cdef inline Py_ssize_t ceil_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """ceil(a / b) for b > 0 and any sign of a."""
    return (a + b - 1) // b if a >= 0 else -((-a) // b)


cdef inline void valid_taps(Py_ssize_t lo_pad, Py_ssize_t tap_off, Py_ssize_t stride, Py_ssize_t size,
                            Py_ssize_t out, Py_ssize_t* first, Py_ssize_t* last) noexcept nogil:
    """Output positions o in [first, last) whose input o*stride - lo_pad + tap_off is in [0, size);
    0 <= first <= last <= out."""
    first[0] = min(max(0, ceil_div(lo_pad - tap_off, stride)), out)
    last[0] = max(min(out, ceil_div(size + lo_pad - tap_off, stride)), first[0])
