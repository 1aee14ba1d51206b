"""Bias + ReLU epilogue and the ReLU gradient: checks here, the loops in ``csrc/activation.pyx``."""
from nnkit._ext import activation as _ext

from ..reference.activation import check_bias_relu, check_relu_backward

__all__ = ["bias_relu", "relu_backward"]


def bias_relu(x, bias=None, relu=True, out=None):
    """``out = relu(x + bias)`` over the last axis (``bias`` None: no bias; ``relu`` False: no ReLU)."""
    x, bias, out = check_bias_relu(x, bias, out)
    c = x.shape[-1]
    rows = x.size // c if c else 0
    _ext.bias_relu(x.reshape(rows, c), bias, out.reshape(rows, c), relu)
    return out


def relu_backward(g, y, out=None):
    """``out = g`` where ``y > 0``, else 0."""
    g, y, out = check_relu_backward(g, y, out)
    _ext.relu_backward(g.reshape(-1), y.reshape(-1), out.reshape(-1))
    return out
