"""Bias + ReLU epilogue and the ReLU gradient: checks here, the loops in ``csrc/activation.pyx``."""
from nnkit import threads as _threads
from nnkit._ext import activation as _ext

from ..reference import activation as _reference
from ..reference.activation import check_bias_relu, check_relu_backward
from ..twin import twin_of

__all__ = ["bias_relu", "relu_backward"]

# Elements below which one thread is quicker: about one flop per element, memory bound, so the team only pays
# once the arrays outgrow a core's cache.
_MIN_PARALLEL_ELEMENTS = 65536


@twin_of(_reference.bias_relu)
def bias_relu(x, bias=None, relu=True, out=None):
    x, bias, out = check_bias_relu(x, bias, out)
    c = x.shape[-1]
    rows = x.size // c if c else 0
    nthreads = _threads.team_above(x.size, _MIN_PARALLEL_ELEMENTS)
    _ext.bias_relu(x.reshape(rows, c), bias, out.reshape(rows, c), relu, nthreads)
    return out


@twin_of(_reference.relu_backward)
def relu_backward(g, y, out=None):
    g, y, out = check_relu_backward(g, y, out)
    nthreads = _threads.team_above(g.size, _MIN_PARALLEL_ELEMENTS)
    _ext.relu_backward(g.reshape(-1), y.reshape(-1), out.reshape(-1), nthreads)
    return out
