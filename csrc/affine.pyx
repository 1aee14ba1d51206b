"""Projective (affine) resampling of NHWC images and its adjoint, float32/float64.

Keras's ``ops.image.affine_transform`` semantics: output pixel (row i,
column j) reads the input at
``x = (a0 j + a1 i + a2) / k``, ``y = (b0 j + b1 i + b2) / k`` with
``k = c0 j + c1 i + 1``; pixel centres sit at integer coordinates.
Nearest rounds half to even (as ``numpy.round``); bilinear
weighs the four neighbours.  Each tap's index is folded back into the image
by the fill mode, tap by tap, as Keras's ``map_coordinates`` does:

    reflect   d c b a | a b c d | d c b a
    wrap      a b c d | a b c d | a b c d
    nearest   a a a a | a b c d | d d d d
    constant  k k k k | a b c d | k k k k   (the tap reads fill_value)

The Python wrapper (``nnkit.backend.cython.affine``) has checked shapes,
dtypes, contiguity, that ``k > 0`` over the output grid, and allocated the
outputs.  One OpenMP worker takes whole images, so the adjoint's scatter-adds
never race.
"""
from cython cimport floating
from cython.parallel cimport prange

cdef enum:
    REFLECT = 0
    WRAP = 1
    NEAREST = 2
    CONSTANT = 3

cdef double COORD_LIMIT = 1e15  # far outside any image; keeps the float -> integer conversion defined


cdef inline Py_ssize_t _fold(Py_ssize_t index, Py_ssize_t size, int mode) noexcept nogil:
    """``index`` folded into [0, size) by the fill mode; -1 when a constant-mode tap falls outside."""
    cdef Py_ssize_t period
    if 0 <= index < size:
        return index
    if mode == CONSTANT:
        return -1
    if mode == NEAREST:
        return 0 if index < 0 else size - 1
    if mode == WRAP:
        index = index % size
        return index + size if index < 0 else index
    period = 2 * size  # REFLECT
    index = index % period
    if index < 0:
        index = index + period
    return period - 1 - index if index >= size else index


cdef inline Py_ssize_t _floor(double v) noexcept nogil:
    """floor(v) for |v| <= COORD_LIMIT, without the libm call (no SSE4.1 rounding in a portable build)."""
    cdef Py_ssize_t i = <Py_ssize_t>v
    return i - 1 if i > v else i


cdef inline Py_ssize_t _round_half_even(double v) noexcept nogil:
    """numpy.round(v) (ties to even) for |v| <= COORD_LIMIT."""
    cdef Py_ssize_t i = _floor(v)
    cdef double rest = v - i
    if rest > 0.5 or (rest == 0.5 and (i & 1)):
        return i + 1
    return i


cdef inline double _clamped(double v) noexcept nogil:
    return -COORD_LIMIT if v < -COORD_LIMIT else (COORD_LIMIT if v > COORD_LIMIT else v)


cdef inline void _source(const double* t, Py_ssize_t i, Py_ssize_t j, double* sx, double* sy) noexcept nogil:
    cdef double k
    if t[6] == 0 and t[7] == 0:  # affine: k == 1, and dividing by it would change nothing but the time
        sx[0] = _clamped(t[0] * j + t[1] * i + t[2])
        sy[0] = _clamped(t[3] * j + t[4] * i + t[5])
        return
    k = t[6] * j + t[7] * i + 1.0
    sx[0] = _clamped((t[0] * j + t[1] * i + t[2]) / k)
    sy[0] = _clamped((t[3] * j + t[4] * i + t[5]) / k)


cdef inline int _taps(double sx, double sy, Py_ssize_t h, Py_ssize_t w, int bilinear, int mode,
                      Py_ssize_t* offsets, double* weights) noexcept nogil:
    """The (up to four) pixel offsets ``row * w + col`` a point reads and their weights; -1: fill_value."""
    cdef Py_ssize_t x0, y0, r, c
    cdef double fx, fy
    if not bilinear:
        r = _fold(_round_half_even(sy), h, mode)
        c = _fold(_round_half_even(sx), w, mode)
        offsets[0] = -1 if r < 0 or c < 0 else r * w + c
        weights[0] = 1.0
        return 1
    x0 = _floor(sx)
    y0 = _floor(sy)
    fx = sx - x0
    fy = sy - y0
    for r in range(2):
        for c in range(2):
            offsets[2 * r + c] = _combine(_fold(y0 + r, h, mode), _fold(x0 + c, w, mode), w)
    weights[0] = (1 - fy) * (1 - fx)
    weights[1] = (1 - fy) * fx
    weights[2] = fy * (1 - fx)
    weights[3] = fy * fx
    return 4


cdef inline Py_ssize_t _combine(Py_ssize_t r, Py_ssize_t c, Py_ssize_t w) noexcept nogil:
    return -1 if r < 0 or c < 0 else r * w + c


cdef inline bint _interior(double sx, double sy, Py_ssize_t h, Py_ssize_t w, Py_ssize_t* corner,
                           double* fx, double* fy) noexcept nogil:
    """Whether all four bilinear taps of (sx, sy) lie inside the image (the common case, which needs no
    folding); sets the top-left tap's pixel offset and the fractional parts."""
    cdef Py_ssize_t x0 = _floor(sx), y0 = _floor(sy)
    fx[0] = sx - x0
    fy[0] = sy - y0
    corner[0] = y0 * w + x0
    return 0 <= x0 and x0 + 1 < w and 0 <= y0 and y0 + 1 < h


cdef void _forward_image(const floating* x, const double* t, floating* y, Py_ssize_t h, Py_ssize_t w,
                         Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t ch, int bilinear, int mode,
                         double fill) noexcept nogil:
    cdef Py_ssize_t i, j, c, tap, ntaps, corner
    cdef Py_ssize_t offsets[4]
    cdef double weights[4]
    cdef double sx, sy, wt, fx, fy
    cdef floating w00, w01, w10, w11
    cdef floating* out
    cdef const floating* src
    cdef const floating* below
    for i in range(oh):
        for j in range(ow):
            _source(t, i, j, &sx, &sy)
            out = y + (i * ow + j) * ch
            if bilinear and _interior(sx, sy, h, w, &corner, &fx, &fy):
                src = x + corner * ch
                below = src + w * ch
                w00 = <floating>((1 - fy) * (1 - fx))
                w01 = <floating>((1 - fy) * fx)
                w10 = <floating>(fy * (1 - fx))
                w11 = <floating>(fy * fx)
                for c in range(ch):
                    out[c] = w00 * src[c] + w01 * src[ch + c] + w10 * below[c] + w11 * below[ch + c]
                continue
            ntaps = _taps(sx, sy, h, w, bilinear, mode, offsets, weights)
            for c in range(ch):
                out[c] = 0
            for tap in range(ntaps):
                wt = weights[tap]
                if offsets[tap] < 0:
                    for c in range(ch):
                        out[c] += <floating>(wt * fill)
                else:
                    src = x + offsets[tap] * ch
                    for c in range(ch):
                        out[c] += <floating>wt * src[c]


cdef void _backward_image(const floating* dy, const double* t, floating* dx, Py_ssize_t h, Py_ssize_t w,
                          Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t ch, int bilinear, int mode) noexcept nogil:
    cdef Py_ssize_t i, j, c, tap, ntaps, corner
    cdef Py_ssize_t offsets[4]
    cdef double weights[4]
    cdef double sx, sy, fx, fy
    cdef floating wt, w00, w01, w10, w11, v
    cdef floating* dst
    cdef floating* below
    cdef const floating* g
    for i in range(oh):
        for j in range(ow):
            _source(t, i, j, &sx, &sy)
            g = dy + (i * ow + j) * ch
            if bilinear and _interior(sx, sy, h, w, &corner, &fx, &fy):
                dst = dx + corner * ch
                below = dst + w * ch
                w00 = <floating>((1 - fy) * (1 - fx))
                w01 = <floating>((1 - fy) * fx)
                w10 = <floating>(fy * (1 - fx))
                w11 = <floating>(fy * fx)
                for c in range(ch):
                    v = g[c]
                    dst[c] += w00 * v
                    dst[ch + c] += w01 * v
                    below[c] += w10 * v
                    below[ch + c] += w11 * v
                continue
            ntaps = _taps(sx, sy, h, w, bilinear, mode, offsets, weights)
            for tap in range(ntaps):
                if offsets[tap] >= 0:
                    wt = <floating>weights[tap]
                    dst = dx + offsets[tap] * ch
                    for c in range(ch):
                        dst[c] += wt * g[c]


def affine_forward(const floating[:, :, :, ::1] x, const double[:, ::1] transforms, floating[:, :, :, ::1] y,
                   bint bilinear, int fill_mode, double fill_value, int nthreads):
    """y[n] = x[n] resampled through ``transforms[n]``.

    Parameters
    ----------
    x : (N, H, W, C), IN; H, W >= 1
    transforms : (N, 8) float64, IN: a0 a1 a2 b0 b1 b2 c0 c1 (output point -> input point)
    y : (N, OH, OW, C), OUT
    bilinear : bilinear weights (else nearest)
    fill_mode : 0 reflect, 1 wrap, 2 nearest, 3 constant
    fill_value : what a constant-mode tap outside the image reads
    nthreads : OpenMP threads (each takes whole images)
    """
    cdef Py_ssize_t n, batch = x.shape[0], h = x.shape[1], w = x.shape[2], ch = x.shape[3]
    cdef Py_ssize_t oh = y.shape[1], ow = y.shape[2]
    if batch == 0 or oh == 0 or ow == 0 or ch == 0:
        return
    for n in prange(batch, nogil=True, num_threads=nthreads, schedule="static"):
        _forward_image(&x[n, 0, 0, 0], &transforms[n, 0], &y[n, 0, 0, 0], h, w, oh, ow, ch, bilinear,
                       fill_mode, fill_value)


def affine_backward(const floating[:, :, :, ::1] dy, const double[:, ::1] transforms, floating[:, :, :, ::1] dx,
                    bint bilinear, int fill_mode, int nthreads):
    """dx[n] += the adjoint of ``affine_forward``'s resampling applied to dy[n].

    Parameters
    ----------
    dy : (N, OH, OW, C), IN
    transforms : (N, 8) float64, IN
    dx : (N, H, W, C), IN/OUT: zeros on entry
    bilinear, fill_mode, nthreads : as ``affine_forward`` (taps reading fill_value get no gradient)
    """
    cdef Py_ssize_t n, batch = dy.shape[0], h = dx.shape[1], w = dx.shape[2], ch = dx.shape[3]
    cdef Py_ssize_t oh = dy.shape[1], ow = dy.shape[2]
    if batch == 0 or oh == 0 or ow == 0 or ch == 0:
        return
    for n in prange(batch, nogil=True, num_threads=nthreads, schedule="static"):
        _backward_image(&dy[n, 0, 0, 0], &transforms[n, 0], &dx[n, 0, 0, 0], h, w, oh, ow, ch, bilinear,
                        fill_mode)
