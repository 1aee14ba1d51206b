# Row primitives shared by the fused softmax kernels (softmax_xent, margin_xent):
# a vectorisable exp, and a row's max and sum with eight independent accumulators.
#
# Without -ffast-math gcc neither vectorises libm's exp nor reorders a float
# sum: the exp is vecmath.h's (written so gcc vectorises the loops that call
# it), the sums keep eight independent accumulators.
from cython cimport floating
from libc.math cimport log, logf


cdef extern from "vecmath.h" nogil:
    float nnkit_expf(float x)
    double nnkit_exp(double x)


cdef inline floating _exp(floating x) noexcept nogil:
    """exp(x) for -87 <= x <= 88 (float) / -708 <= x <= 709 (double); NaN in, NaN out (vecmath.h)."""
    if floating is float:
        return nnkit_expf(x)
    else:
        return nnkit_exp(x)


cdef inline floating _max(const floating* a, Py_ssize_t K) noexcept nogil:
    """max(a[:K]), K >= 1, with eight independent running maxima."""
    cdef floating m0 = a[0], m1 = a[0], m2 = a[0], m3 = a[0]
    cdef floating m4 = a[0], m5 = a[0], m6 = a[0], m7 = a[0]
    cdef Py_ssize_t k = 0
    while k + 8 <= K:
        m0 = a[k] if a[k] > m0 else m0
        m1 = a[k + 1] if a[k + 1] > m1 else m1
        m2 = a[k + 2] if a[k + 2] > m2 else m2
        m3 = a[k + 3] if a[k + 3] > m3 else m3
        m4 = a[k + 4] if a[k + 4] > m4 else m4
        m5 = a[k + 5] if a[k + 5] > m5 else m5
        m6 = a[k + 6] if a[k + 6] > m6 else m6
        m7 = a[k + 7] if a[k + 7] > m7 else m7
        k += 8
    for k in range(k, K):
        m0 = a[k] if a[k] > m0 else m0
    m0 = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
    return m0


cdef inline floating _sum(const floating* a, Py_ssize_t K, floating shift) noexcept nogil:
    """sum(a[:K] - shift) with eight independent partial sums (gcc vectorises them)."""
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0
    cdef Py_ssize_t k = 0
    while k + 8 <= K:
        s0 += a[k] - shift
        s1 += a[k + 1] - shift
        s2 += a[k + 2] - shift
        s3 += a[k + 3] - shift
        s4 += a[k + 4] - shift
        s5 += a[k + 5] - shift
        s6 += a[k + 6] - shift
        s7 += a[k + 7] - shift
        k += 8
    for k in range(k, K):
        s0 += a[k] - shift
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


cdef inline floating _exp_sum(floating* p, Py_ssize_t K) noexcept nogil:
    """p[:K] = exp(p[:K]) in place; returns their sum.  Eight exps per step
    feed eight partial sums (gcc packs both into vectors): 15 % faster than an
    exp pass followed by a sum pass."""
    cdef floating v0, v1, v2, v3, v4, v5, v6, v7
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0
    cdef Py_ssize_t k = 0
    while k + 8 <= K:
        v0 = _exp(p[k])
        v1 = _exp(p[k + 1])
        v2 = _exp(p[k + 2])
        v3 = _exp(p[k + 3])
        v4 = _exp(p[k + 4])
        v5 = _exp(p[k + 5])
        v6 = _exp(p[k + 6])
        v7 = _exp(p[k + 7])
        p[k] = v0
        p[k + 1] = v1
        p[k + 2] = v2
        p[k + 3] = v3
        p[k + 4] = v4
        p[k + 5] = v5
        p[k + 6] = v6
        p[k + 7] = v7
        s0 += v0
        s1 += v1
        s2 += v2
        s3 += v3
        s4 += v4
        s5 += v5
        s6 += v6
        s7 += v7
        k += 8
    for k in range(k, K):
        v0 = _exp(p[k])
        p[k] = v0
        s0 += v0
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


cdef inline floating _softmax_row(const floating* z, floating* p, Py_ssize_t K,
                                  floating m) noexcept nogil:
    """OUT p = softmax(z[:K]), given m = max(z).  Returns log(sum(exp(z - m)))."""
    cdef Py_ssize_t k
    cdef floating d, s, lower
    if floating is float:
        lower = -87.0    # clamp into _exp's range: exp(lower) is far below any ulp of the sum
    else:
        lower = -708.0
    for k in range(K):
        d = z[k] - m
        p[k] = lower if d < lower else d
    s = _exp_sum(p, K)
    d = 1 / s
    for k in range(K):
        p[k] = p[k] * d
    if floating is float:
        return logf(s)
    else:
        return log(s)
