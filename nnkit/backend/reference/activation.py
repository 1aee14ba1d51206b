"""Bias + ReLU epilogue and the ReLU gradient: the pure-NumPy reference.

``bias_relu`` is what a dense or conv layer applies to its GEMM output:
``relu(x + bias)`` along the last axis, either part optional, written into
``out`` (which may be ``x``).  ReLU passes NaN through; its gradient is ``g``
where ``y > 0`` and exactly 0 elsewhere.  The ``check_*`` functions are the
argument checks shared with the Cython backend.
"""
import numpy as np

from ..validate import float_array, out_array, same_dtype, shape_is

__all__ = ["bias_relu", "relu_backward"]


def check_out(op, out, like):
    """``out`` is None (a new array) or a writable C-contiguous array of ``like``'s shape and dtype."""
    out = out_array(op, out, like.shape, like.dtype)
    return np.empty_like(like) if out is None else out


def check_bias_relu(x, bias, out):
    op = "bias_relu"
    if isinstance(x, np.ndarray) and x.ndim < 1:
        raise ValueError(f"{op}: expected x with a channel axis, got a scalar")
    x = float_array(op, "x", x)
    if bias is not None:
        bias = float_array(op, "bias", bias, ndim=1)
        shape_is(op, "bias", bias, x.shape[-1:])
        same_dtype(op, x=x, bias=bias)
    return x, bias, check_out(op, out, x)


def check_relu_backward(g, y, out):
    op = "relu_backward"
    g = float_array(op, "g", g)
    y = float_array(op, "y", y)
    shape_is(op, "g", g, y.shape)
    same_dtype(op, g=g, y=y)
    return g, y, check_out(op, out, g)


def bias_relu(x, bias=None, relu=True, out=None):
    """``out = relu(x + bias)`` over the last axis (``bias`` None: no bias; ``relu`` False: no ReLU)."""
    x, bias, out = check_bias_relu(x, bias, out)
    v = x + bias if bias is not None else x.copy()
    if relu:
        v[v < 0] = 0  # NaN stays NaN
    out[...] = v
    return out


def relu_backward(g, y, out=None):
    """``out = g`` where ``y > 0``, else 0."""
    g, y, out = check_relu_backward(g, y, out)
    out[...] = np.where(y > 0, g, 0)
    return out
