"""Fused softmax + cross-entropy kernels, float32/float64.

The Python wrappers in ``nnkit.backend.cython.softmax_xent`` have already
checked shapes, dtypes, contiguity, K >= 1, label ranges and the smoothing,
and allocated the outputs.  Rows run in parallel; each row makes a few passes
over its K contiguous logits (L1-resident for any realistic K).

The row primitives (a vectorisable exp, eight-accumulator max and sums) live
in rowmath.pxd, shared with margin_xent.pyx.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdint cimport int64_t

from denormal cimport nnkit_flush_denormals
from rowmath cimport _max, _softmax_row, _sum


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
                                         floating[::1] loss, floating[:, ::1] probs, int nthreads):
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
    with nogil, parallel(num_threads=nthreads):
        nnkit_flush_denormals()
        for i in prange(N, schedule='static'):
            m = _max(&logits[i, 0], K)
            logsum = _softmax_row(&logits[i, 0], &probs[i, 0], K, m)
            loss[i] = (1 - ls) * (logsum - (logits[i, labels[i]] - m))
            if ls != 0:
                loss[i] = loss[i] + ls * (logsum - _sum(&logits[i, 0], K, m) / K)


def softmax_cross_entropy_forward_dense(const floating[:, ::1] logits,
                                        const floating[:, ::1] target, double label_smoothing,
                                        floating[::1] loss, floating[:, ::1] probs, int nthreads):
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
    with nogil, parallel(num_threads=nthreads):
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
                                          floating[:, ::1] dlogits, int nthreads):
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
    with nogil, parallel(num_threads=nthreads):
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
                                         floating[:, ::1] dlogits, int nthreads):
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
    with nogil, parallel(num_threads=nthreads):
        nnkit_flush_denormals()
        for i in prange(N, schedule='static'):
            g = dloss[i]
            p = &probs[i, 0]
            t = &target[i, 0]
            out = &dlogits[i, 0]
            for k in range(K):
                out[k] = g * (p[k] - (keep * t[k] + uniform))
