"""Bias + ReLU epilogue and the ReLU gradient, float32/float64, in one pass each.

The Python wrappers in ``nnkit.backend.cython.activation`` have already
checked shapes, dtypes and contiguity and allocated the outputs (``out`` may
be the input itself: the forward runs in place on a fresh GEMM or conv
output).  NumPy would take two or three passes and temporaries for the same
work, and its NaN-aware ``maximum`` runs at about a quarter of memory speed.

NaN semantics match the reference: ReLU passes NaN through (``x < 0`` is
false for NaN), and its gradient is ``g`` where ``y > 0``, else exactly 0.
"""
from cython cimport floating
from cython.parallel cimport parallel
from bias_relu cimport bias_relu_flat
from team cimport share_start, share_stop


cdef void _relu_backward(const floating* g, const floating* y, floating* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v
    for i in range(n):
        v = g[i]
        out[i] = v if y[i] > 0 else 0


def bias_relu(const floating[:, ::1] x, const floating[::1] bias, floating[:, ::1] out, bint relu, int nthreads):
    """out = relu(x + bias) row by row (either part optional); ``out`` may alias ``x``.

    Parameters
    ----------
    x : (R, C), IN
    bias : (C,) or None, IN
    out : (R, C), OUT
    relu : clamp negatives to 0 (False: only add the bias)
    """
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1], start, stop
    cdef const floating* b = NULL
    if rows == 0 or cols == 0:
        return
    if bias is not None:
        b = &bias[0]
    with nogil, parallel(num_threads=nthreads):
        start = share_start(rows)
        stop = share_stop(rows)
        if stop > start:
            bias_relu_flat(&x[start, 0], b, cols, &out[start, 0], (stop - start) * cols, relu)


def relu_backward(const floating[::1] g, const floating[::1] y, floating[::1] out, int nthreads):
    """out = g where y > 0, else 0 (``y`` is the ReLU's output or input: same sign test).

    Parameters
    ----------
    g, y : (n,), IN
    out : (n,), OUT; may alias ``g``
    """
    cdef Py_ssize_t n = g.shape[0], start, stop
    if n == 0:
        return
    with nogil, parallel(num_threads=nthreads):
        start = share_start(n)
        stop = share_stop(n)
        if stop > start:
            _relu_backward(&g[start], &y[start], &out[start], stop - start)
