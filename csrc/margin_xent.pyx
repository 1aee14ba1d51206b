"""Fused angular-margin softmax cross-entropy (ArcFace, CosFace, SphereFace,
combined margin), float32/float64.

The Python wrappers in ``nnkit.backend.cython.margin_xent`` have already
checked shapes, dtypes, contiguity, K >= 1, label ranges, the target cosines'
range and the margin parameters, and allocated the outputs.  Rows run in
parallel.  Per row: the target cosine becomes its margin logit and derivative
(in double, a handful of flops), then the row makes four passes over its K
cosines: the max, the shifted scaled logits, exp with the sum, and the
gradient.  No (N, K) one-hot or logit matrix is built: the gradient buffer is
the only (N, K) output, and it doubles as the scratch row.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport M_PI, acos, cos, exp, floor, log, sin, sqrt
from libc.stdint cimport int64_t

from denormal cimport nnkit_flush_denormals
from rowmath cimport _exp_sum, _max


# How the target cosine c = cos(theta) becomes its logit z (the values of
# nnkit.backend.reference.margin_xent.MARGINS).
cdef enum:
    COMBINED = 0   # cos(m1 theta + m2) - m3  (CosFace, normalised softmax: m1 = 1, m2 = 0)
    ARC = 1        # cos(theta + m2) while c > cos(pi - m2), else c - m2 sin(m2)
    ARC_EASY = 2   # cos(theta + m2) while c > 0, else c
    SPHERE = 3     # (-1)^k cos(m1 theta) - 2k, k = floor(m1 theta / pi), m1 a positive integer


cdef struct Target:
    double z     # the target logit
    double dz    # dz / dc


cdef inline double _sin_ratio(double m1, double theta, double d_sin) noexcept nogil:
    """sin(m1 theta) / sin(theta), finite at theta = 0 (its limit m1) via the
    ratio of sincs; past pi/2 the denominator is d_sin, sin(theta) floored."""
    cdef double a = m1 * theta
    if theta <= M_PI / 2:
        return m1 * (1.0 if a == 0 else sin(a) / a) / (1.0 if theta == 0 else sin(theta) / theta)
    return sin(a) / d_sin


cdef Target _target(double c, int margin, double m1, double m2, double m3,
                    double sin_floor) noexcept nogil:
    """The target logit z(c) and its derivative dz/dc.

    sin(theta) = sqrt(1 - c^2) is exact for the value; in derivatives it is
    floored at sin_floor, the sine of the smallest nonzero angle the input
    dtype can represent (at c = +-1 exactly the derivative of cos(theta + m)
    is infinite; elsewhere the floor changes nothing).
    """
    cdef Target out
    cdef double sin_t, d_sin, theta, t, t_prev, u, u_prev, sign
    cdef int k, j
    c = min(max(c, -1.0), 1.0)       # rounding in the normalisation may step past +-1
    sin_t = sqrt((1 - c) * (1 + c))  # exact factors near +-1, where 1 - c*c would cancel
    d_sin = max(sin_t, sin_floor)
    if margin == SPHERE:             # T_m and U_(m-1), the Chebyshev polynomials, by recurrence
        theta = acos(c)
        k = <int>floor(m1 * theta / M_PI)
        k = min(max(k, 0), <int>m1 - 1)  # theta = pi is the end of piece m - 1 (the value is continuous)
        t_prev, t, u_prev, u = 1.0, c, 0.0, 1.0
        for j in range(1, <int>m1):
            t_prev, t = t, 2 * c * t - t_prev
            u_prev, u = u, 2 * c * u - u_prev
        sign = -1.0 if k % 2 else 1.0
        out.z = sign * t - 2 * k
        out.dz = sign * m1 * u       # d cos(m theta)/dc = m U_(m-1)(c) = m sin(m theta) / sin(theta)
    elif (margin == ARC and c <= -cos(m2)) or (margin == ARC_EASY and c <= 0):
        out.z = c - m2 * sin(m2) if margin == ARC else c
        out.dz = 1.0
    elif m1 == 1:                    # cos(theta + m2) = c cos m2 - sin(theta) sin m2, no acos
        out.z = c * cos(m2) - sin_t * sin(m2) - m3
        out.dz = cos(m2) + sin(m2) * c / d_sin
    else:                            # d/dc cos(m1 theta + m2) = m1 sin(m1 theta + m2) / sin(theta)
        theta = acos(c)
        out.z = cos(m1 * theta + m2) - m3
        out.dz = m1 * (cos(m2) * _sin_ratio(m1, theta, d_sin) + sin(m2) * cos(m1 * theta) / d_sin)
    return out


cdef inline floating _margin_row(const floating* c, floating* g, Py_ssize_t K, Py_ssize_t y,
                                 floating s, floating z, floating dz) noexcept nogil:
    """The loss of one row; OUT g[:K] = d loss / d c.

    Logits are s * c[k], and s * z at the label y; g = s * (softmax - onehot),
    the label's entry times dz.
    """
    cdef Py_ssize_t k
    cdef floating mx = s * z, d, lower, others, total, e_y
    if floating is float:
        lower = -87.0    # clamp into _exp's range: exp(lower) is far below any ulp of the sum
    else:
        lower = -708.0
    if y > 0:
        mx = max(mx, s * _max(c, y))
    if y + 1 < K:
        mx = max(mx, s * _max(c + y + 1, K - y - 1))
    for k in range(K):
        d = s * c[k] - mx
        g[k] = lower if d < lower else d
    d = s * z - mx
    e_y = <floating>exp(lower if d < lower else d)
    g[y] = lower         # the label's term stays out of the sum: 1 - p_y = others / total, no cancellation
    others = _exp_sum(g, K) - g[y]
    total = others + e_y
    d = s / total
    for k in range(K):
        g[k] = g[k] * d
    g[y] = -s * (others / total) * dz
    return <floating>log(total) - (s * z - mx)


def margin_cross_entropy_forward(const floating[:, ::1] cosines, const int64_t[::1] labels,
                                 double s, int margin, double m1, double m2, double m3,
                                 double sin_floor, floating[::1] loss, floating[:, ::1] dcosines, int nthreads):
    """Margin-penalised scaled softmax cross-entropy and its gradient, in one pass.

    Parameters
    ----------
    cosines : (N, K) float32 or float64, C-contiguous, K >= 1
        IN: cos(theta) of each sample against each class centre.
    labels : (N,) int64 in [0, K)
        IN: the class of each row.
    s : float > 0
        The scale (inverse temperature) of every logit.
    margin : int
        Which target logit (COMBINED, ARC, ARC_EASY, SPHERE above), with
        parameters m1, m2, m3.
    sin_floor : float
        sin of the smallest nonzero angle of the input dtype (see ``_target``).
    loss : (N,) same dtype
        OUT: ``-log softmax(s * logits)[label]`` per row.
    dcosines : (N, K) same dtype
        OUT: ``d loss[i] / d cosines[i, :]``.
    """
    cdef Py_ssize_t N = cosines.shape[0], K = cosines.shape[1], i, y
    cdef Target t
    if N == 0:
        return
    with nogil, parallel(num_threads=nthreads):
        nnkit_flush_denormals()
        for i in prange(N, schedule='static'):
            y = labels[i]
            t = _target(cosines[i, y], margin, m1, m2, m3, sin_floor)
            loss[i] = _margin_row(&cosines[i, 0], &dcosines[i, 0], K, y, <floating>s, <floating>t.z,
                                  <floating>t.dz)


def margin_cross_entropy_backward(const floating[::1] dloss, const floating[:, ::1] dcosines,
                                  floating[:, ::1] out, int nthreads):
    """Chain rule through the per-row loss: ``out = dloss[:, None] * dcosines``.

    Parameters
    ----------
    dloss : (N,) float32 or float64
        IN: gradient of the per-row loss.
    dcosines : (N, K) same dtype, C-contiguous
        IN: the forward's per-row gradient.
    out : (N, K) same dtype
        OUT: gradient of the cosines.
    """
    cdef Py_ssize_t N = dcosines.shape[0], K = dcosines.shape[1], i, k
    cdef floating g
    if N == 0:
        return
    with nogil, parallel(num_threads=nthreads):
        nnkit_flush_denormals()
        for i in prange(N, schedule='static'):
            g = dloss[i]
            for k in range(K):
                out[i, k] = g * dcosines[i, k]
