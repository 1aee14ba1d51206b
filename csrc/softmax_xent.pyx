"""Fused softmax + cross-entropy kernels, float32/float64.

The Python wrappers in ``nnkit.backend.cython.softmax_xent`` have already
checked shapes, dtypes, contiguity, K >= 1, label ranges and the smoothing,
and allocated the outputs.  Rows run in parallel; each row makes a few passes
over its K contiguous logits (L1-resident for any realistic K).

Without -ffast-math gcc neither vectorises libm's exp nor reorders a float
sum, so this file carries its own exp (Cephes' range reduction and
polynomial, within 2 ulp; written so gcc vectorises the loops that call it)
and sums with eight independent accumulators.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport log, logf
from libc.stdint cimport int32_t, int64_t

from denormal cimport nnkit_flush_denormals
from team cimport team_size


cdef union Bits32:
    float f
    int32_t i


cdef union Bits64:
    double f
    int64_t i


cdef enum:
    PARALLEL_MIN_ELEMENTS = 32768  # logits


cdef inline floating _exp(floating x) noexcept nogil:
    """exp(x) for -87 <= x <= 88 (float) / -708 <= x <= 709 (double); NaN in, NaN out.

    x = n ln2 + r with |r| <= ln2 / 2 (n rounded by the 1.5 * 2**mantissa
    trick, ln2 split in two for an exact product), exp(r) by Cephes'
    polynomial (float) or Pade form (double), 2**n built in the exponent bits.
    """
    cdef floating n, r, rr, p, q
    cdef Bits32 b32
    cdef Bits64 b64
    if floating is float:
        n = (x * <float>1.44269504088896341 + <float>12582912.0) - <float>12582912.0
        r = x - n * <float>0.693359375 - n * <float>-2.12194440e-4
        rr = r * r
        p = (((((<float>1.9875691500e-4 * r + <float>1.3981999507e-3) * r
                + <float>8.3334519073e-3) * r + <float>4.1665795894e-2) * r
              + <float>1.6666665459e-1) * r + <float>5.0000001201e-1) * rr + r + 1
        b32.i = (<int32_t>n + 127) << 23
        return p * b32.f
    else:
        n = (x * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0
        r = x - n * 6.93145751953125e-1 - n * 1.42860682030941723212e-6
        rr = r * r
        p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr
                 + 9.99999999999999999910e-1)
        q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
             + 2.27265548208155028766e-1) * rr + 2.00000000000000000009e0
        b64.i = <int64_t>(<int32_t>n + 1023) << 52
        return (1 + 2 * (p / (q - p))) * b64.f


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


cdef inline floating _dense_loss(const floating* z, const floating* t, Py_ssize_t K,
                                 floating m, floating logsum, floating ls) noexcept nogil:
    """-sum(t' * log_softmax(z)) with t' = (1 - ls) t + ls / K, as
    logsum * sum(t') - sum(t' * (z - m)): every term is computed from z - m."""
    cdef floating st0 = 0, st1 = 0, st2 = 0, st3 = 0
    cdef floating sd0 = 0, sd1 = 0, sd2 = 0, sd3 = 0
    cdef floating sz0 = 0, sz1 = 0, sz2 = 0, sz3 = 0
    cdef floating d0, d1, d2, d3, st, std, sd
    cdef Py_ssize_t k = 0
    while k + 4 <= K:
        d0 = z[k] - m
        d1 = z[k + 1] - m
        d2 = z[k + 2] - m
        d3 = z[k + 3] - m
        st0 += t[k]
        st1 += t[k + 1]
        st2 += t[k + 2]
        st3 += t[k + 3]
        sd0 += t[k] * d0
        sd1 += t[k + 1] * d1
        sd2 += t[k + 2] * d2
        sd3 += t[k + 3] * d3
        sz0 += d0
        sz1 += d1
        sz2 += d2
        sz3 += d3
        k += 4
    for k in range(k, K):
        d0 = z[k] - m
        st0 += t[k]
        sd0 += t[k] * d0
        sz0 += d0
    st = (st0 + st1) + (st2 + st3)
    std = (sd0 + sd1) + (sd2 + sd3)
    sd = (sz0 + sz1) + (sz2 + sz3)
    return logsum * ((1 - ls) * st + ls) - ((1 - ls) * std + ls / K * sd)


cdef floating _dense_loss_by_terms(const floating* z, const floating* t, Py_ssize_t K,
                                   floating m, floating logsum, floating ls) noexcept nogil:
    """_dense_loss term by term, skipping zero target weights (0 * log 0 = 0).
    The cold path for rows where the fast form met a masked (-inf) logit."""
    cdef Py_ssize_t k
    cdef floating w, s = 0
    for k in range(K):
        w = (1 - ls) * t[k] + ls / K
        if w != 0:
            s += w * (logsum - (z[k] - m))
    return s


def softmax_cross_entropy_forward_labels(const floating[:, ::1] logits,
                                         const int64_t[::1] labels, double label_smoothing,
                                         floating[::1] loss, floating[:, ::1] probs):
    """Softmax and cross-entropy against integer class labels.

    Parameters
    ----------
    logits : (N, K) float32 or float64, C-contiguous, K >= 1
        IN: unnormalised log-probabilities.
    labels : (N,) int64 in [0, K)
        IN: the class of each row.
    label_smoothing : float in [0, 1]
        The target is ``(1 - ls) * onehot + ls / K``.
    loss : (N,) same dtype as logits
        OUT: ``-sum(target * log_softmax(logits))`` per row.
    probs : (N, K) same dtype
        OUT: ``softmax(logits)``.
    """
    cdef Py_ssize_t N = logits.shape[0], K = logits.shape[1], i
    cdef floating ls = <floating>label_smoothing, m, logsum
    if N == 0:
        return
    with nogil, parallel(num_threads=team_size(N * K, PARALLEL_MIN_ELEMENTS)):
        nnkit_flush_denormals()
        for i in prange(N, schedule='static'):
            m = _max(&logits[i, 0], K)
            logsum = _softmax_row(&logits[i, 0], &probs[i, 0], K, m)
            loss[i] = (1 - ls) * (logsum - (logits[i, labels[i]] - m))
            if ls != 0:
                loss[i] = loss[i] + ls * (logsum - _sum(&logits[i, 0], K, m) / K)


def softmax_cross_entropy_forward_dense(const floating[:, ::1] logits,
                                        const floating[:, ::1] target, double label_smoothing,
                                        floating[::1] loss, floating[:, ::1] probs):
    """Softmax and cross-entropy against dense (N, K) target probabilities.

    Parameters
    ----------
    logits : (N, K) float32 or float64, C-contiguous, K >= 1
        IN: unnormalised log-probabilities.
    target : (N, K) same dtype
        IN: target distribution of each row (one-hot or soft).
    label_smoothing : float in [0, 1]
        The target becomes ``(1 - ls) * target + ls / K``.
    loss : (N,) same dtype
        OUT: ``-sum(target * log_softmax(logits))`` per row.
    probs : (N, K) same dtype
        OUT: ``softmax(logits)``.
    """
    cdef Py_ssize_t N = logits.shape[0], K = logits.shape[1], i
    cdef floating ls = <floating>label_smoothing, m, logsum
    if N == 0:
        return
    with nogil, parallel(num_threads=team_size(N * K, PARALLEL_MIN_ELEMENTS)):
        nnkit_flush_denormals()
        for i in prange(N, schedule='static'):
            m = _max(&logits[i, 0], K)
            logsum = _softmax_row(&logits[i, 0], &probs[i, 0], K, m)
            loss[i] = _dense_loss(&logits[i, 0], &target[i, 0], K, m, logsum, ls)
            if loss[i] != loss[i]:
                loss[i] = _dense_loss_by_terms(&logits[i, 0], &target[i, 0], K, m, logsum, ls)


def softmax_cross_entropy_backward_labels(const floating[::1] dloss,
                                          const floating[:, ::1] probs,
                                          const int64_t[::1] labels, double label_smoothing,
                                          floating[:, ::1] dlogits):
    """Gradient with respect to the logits, integer labels:
    ``dloss[:, None] * (probs - ((1 - ls) * onehot + ls / K))``.

    Parameters
    ----------
    dloss : (N,) float32 or float64
        IN: gradient of the per-row loss.
    probs : (N, K) same dtype, C-contiguous
        IN: the forward softmax.
    labels : (N,) int64 in [0, K)
        IN: the class of each row.
    label_smoothing : float in [0, 1]
    dlogits : (N, K) same dtype
        OUT: gradient of the logits.
    """
    cdef Py_ssize_t N = probs.shape[0], K = probs.shape[1], i, k
    cdef floating ls = <floating>label_smoothing, uniform = ls / K, g
    cdef const floating* p
    cdef floating* out
    if N == 0:
        return
    with nogil, parallel(num_threads=team_size(N * K, PARALLEL_MIN_ELEMENTS)):
        nnkit_flush_denormals()
        for i in prange(N, schedule='static'):
            g = dloss[i]
            p = &probs[i, 0]
            out = &dlogits[i, 0]
            for k in range(K):
                out[k] = g * (p[k] - uniform)
            k = labels[i]
            out[k] = g * (p[k] - ((1 - ls) + uniform))


def softmax_cross_entropy_backward_dense(const floating[::1] dloss,
                                         const floating[:, ::1] probs,
                                         const floating[:, ::1] target, double label_smoothing,
                                         floating[:, ::1] dlogits):
    """Gradient with respect to the logits, dense targets:
    ``dloss[:, None] * (probs - ((1 - ls) * target + ls / K))``.

    Parameters
    ----------
    dloss : (N,) float32 or float64
        IN: gradient of the per-row loss.
    probs, target : (N, K) same dtype, C-contiguous
        IN: the forward softmax and the target distribution.
    label_smoothing : float in [0, 1]
    dlogits : (N, K) same dtype
        OUT: gradient of the logits.
    """
    cdef Py_ssize_t N = probs.shape[0], K = probs.shape[1], i, k
    cdef floating ls = <floating>label_smoothing, keep = 1 - ls, uniform = ls / K, g
    cdef const floating* p
    cdef const floating* t
    cdef floating* out
    if N == 0:
        return
    with nogil, parallel(num_threads=team_size(N * K, PARALLEL_MIN_ELEMENTS)):
        nnkit_flush_denormals()
        for i in prange(N, schedule='static'):
            g = dloss[i]
            p = &probs[i, 0]
            t = &target[i, 0]
            out = &dlogits[i, 0]
            for k in range(K):
                out[k] = g * (p[k] - (keep * t[k] + uniform))
