"""2-D max and average pooling, NHWC: checks and outputs here, loops in ``csrc/pool.pyx``."""
import numpy as np

from nnkit import threads as _threads
from nnkit._ext import pool as _ext

from ..reference import pool as _reference
from ..reference.pool import argmax_range, check_avg_backward, check_forward, check_max_backward
from ..twin import twin_of

__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward"]

# Average pooling windows longer than this (on either axis) take the running-sum kernels, whose cost does not grow
# with the window; shorter ones the window-by-window kernels, faster for them (measured: `nnkit bench --only pool`).
_RUNNING_SUM_MIN_WINDOW = 8

# Input elements below which one thread is quicker: a pooling pass reads each element a few times at most, so
# a smaller image is done before a woken team would be.
_MIN_PARALLEL_ELEMENTS = 32768


def _running(pool):
    return max(pool) > _RUNNING_SUM_MIN_WINDOW


@twin_of(_reference.max_pool2d_forward)
def max_pool2d_forward(x, pool_size, strides, padding):
    x, pool, strides, pads, (oh, ow) = check_forward("max_pool2d", x, pool_size, strides, padding)
    shape = (x.shape[0], oh, ow, x.shape[3])
    y = np.empty(shape, dtype=x.dtype)
    argmax = np.empty(shape, dtype=np.int64)
    _ext.max_pool2d_forward(x, pool, strides, pads, y, argmax, _threads.team_above(x.size, _MIN_PARALLEL_ELEMENTS))
    return y, argmax


@twin_of(_reference.max_pool2d_backward)
def max_pool2d_backward(dy, argmax, x_shape):
    dy, argmax, x_shape = check_max_backward(dy, argmax, x_shape, check_range=False)
    dx = np.empty(x_shape, dtype=dy.dtype)
    nthreads = _threads.team_above(dx.size, _MIN_PARALLEL_ELEMENTS)
    if _ext.max_pool2d_backward(dy, argmax, dx, nthreads):  # the kernel range-checks as it scatters
        argmax_range(argmax, x_shape)
    return dx


@twin_of(_reference.avg_pool2d_forward)
def avg_pool2d_forward(x, pool_size, strides, padding):
    x, pool, strides, pads, (oh, ow) = check_forward("avg_pool2d", x, pool_size, strides, padding)
    y = np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    kernel = _ext.avg_pool2d_running_forward if _running(pool) else _ext.avg_pool2d_forward
    kernel(x, pool, strides, pads, y, _threads.team_above(x.size, _MIN_PARALLEL_ELEMENTS))
    return y


@twin_of(_reference.avg_pool2d_backward)
def avg_pool2d_backward(dy, x_shape, pool_size, strides, padding):
    dy, x_shape, pool, strides, pads = check_avg_backward(dy, x_shape, pool_size, strides, padding)
    dx = np.empty(x_shape, dtype=dy.dtype)
    kernel = _ext.avg_pool2d_running_backward if _running(pool) else _ext.avg_pool2d_backward
    kernel(dy, pool, strides, pads, dx, _threads.team_above(dx.size, _MIN_PARALLEL_ELEMENTS))
    return dx
