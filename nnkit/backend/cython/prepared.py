"""Kernel calls prepared once for one set of shapes: what the inference plans run at small batches.

Each wrapper in this package checks its arguments on every call (types,
dtypes, contiguity, geometry) before the kernel runs; for a batch-1 LeNet-5
those checks and the Python layers around them cost about as much as the
kernels.  A ``prepare_*`` function here does the wrapper's checks and
decisions (algorithm, chunking) once, for an input shape and dtype and the
weight arrays given, and returns a function that calls the kernel directly:
the same kernel with the same arguments as the wrapper, so the same bits.

A prepared call re-checks only what can change between calls, in a few
attribute reads: the input is a C-contiguous array of the prepared shape and
dtype, the weights are the very arrays prepared with (``set_weights`` writes
into them in place), and the thread team has not changed (``nnkit.threads``).
Anything else goes through the checked wrapper, which raises its usual errors.
``prepare_*`` returns None where a prepared call would not help or could
differ (Winograd convolutions check the values they transform on each call).
"""
import numpy as np

from nnkit import threads as _threads
from nnkit._ext import activation as _act
from nnkit._ext import conv as _conv
from nnkit._ext import gemm as _gemm
from nnkit._ext import pool as _pool

from ..reference.gemm import check_matmul
from ..reference.pool import check_forward
from ..reference.conv import check_conv2d
from . import activation, conv, gemm, pool

__all__ = ["prepare_conv2d_forward", "prepare_bias_relu", "prepare_matmul", "prepare_max_pool2d_forward",
           "prepare_avg_pool2d_forward"]


def _specialized(kernel, dtype):
    """The float32 or float64 version of a Cython kernel written for both: calling it skips the dispatch on
    the arguments' types (a microsecond or two per call)."""
    signatures = getattr(kernel, "__signatures__", None) or {}
    return signatures.get("float" if dtype == np.float32 else "double", kernel)


def _fits(x, shape, dtype):
    return type(x) is np.ndarray and x.shape == shape and x.dtype == dtype and x.flags.c_contiguous


def prepare_conv2d_forward(x_shape, dtype, w, b, strides, padding, dilation, groups):
    """``run(x, w, b)``: ``conv.conv2d_forward(x, w, b, strides, padding, dilation, groups)``."""
    x_shape, dtype = tuple(x_shape), np.dtype(dtype)
    probe = np.empty(x_shape, dtype)
    _, w, b, strides, padding, dilation, groups, out = check_conv2d("conv2d", probe, w, b, strides, padding,
                                                                    dilation, groups)
    algorithm = conv._algorithm(x_shape, w.shape, strides, padding, dilation, groups)
    y_shape = (x_shape[0],) + out + (w.shape[3],)
    if algorithm == conv.WINOGRAD or not np.prod(y_shape):
        return None
    geometry = conv._geometry(strides, padding, dilation)
    kernel = _specialized(_conv.conv2d_forward, dtype)
    w0, b0 = w, b
    plans = {}  # thread team -> (chunk, threads)

    def checked(x, w, b):
        return conv.conv2d_forward(x, w, b, strides, padding, dilation, groups)

    def run(x, w, b):
        if w is not w0 or b is not b0 or not _fits(x, x_shape, dtype):
            return checked(x, w, b)
        team = _threads.team()
        plan = plans.get(team)
        if plan is None:
            plan = plans[team] = conv._plan(probe, w.shape, out, strides, dilation, backward=False)
        y = np.empty(y_shape, dtype)
        kernel(x, w, b, y, *geometry, groups, algorithm, *plan)
        return y
    return run


def prepare_bias_relu(shape, dtype, bias, relu):
    """``run(x, bias)``: ``activation.bias_relu(x, bias, relu, out=x)`` (in place)."""
    shape, dtype = tuple(shape), np.dtype(dtype)
    c = shape[-1] if shape else 1
    rows = int(np.prod(shape)) // c if c else 0
    b0 = None if bias is None else activation.check_bias_relu(np.empty(shape, dtype), bias, None)[1]
    parallel = rows * c >= activation._MIN_PARALLEL_ELEMENTS
    kernel = _specialized(_act.bias_relu, dtype)

    def run(x, bias):
        if bias is not b0 or not _fits(x, shape, dtype):
            return activation.bias_relu(x, bias, relu, out=x)
        flat = x.reshape(rows, c)
        kernel(flat, bias, flat, relu, _threads.team() if parallel else 1)
        return x
    return run


def prepare_matmul(a_shape, dtype, b):
    """``run(a, b)``: ``gemm.matmul(a, b)``."""
    a_shape, dtype = tuple(a_shape), np.dtype(dtype)
    _, b0, m, k, n = check_matmul(np.empty(a_shape, dtype), b, False, False, None)
    parallel = m * n * k >= gemm._MIN_PARALLEL_MACS
    kernel = _specialized(_gemm.matmul, dtype)

    def run(a, b):
        if b is not b0 or not _fits(a, a_shape, dtype):
            return gemm.matmul(a, b)
        out = np.empty((m, n), dtype)
        kernel(a, b, out, False, False, False, _threads.team() if parallel else 1)
        return out
    return run


def _prepare_pool(op, x_shape, dtype, pool_size, strides, padding):
    x_shape, dtype = tuple(x_shape), np.dtype(dtype)
    _, pool_size, strides, pads, (oh, ow) = check_forward(op, np.empty(x_shape, dtype), pool_size, strides,
                                                          padding)
    parallel = int(np.prod(x_shape)) >= pool._MIN_PARALLEL_ELEMENTS
    return x_shape, dtype, (x_shape[0], oh, ow, x_shape[3]), (pool_size, strides, pads), parallel


def prepare_max_pool2d_forward(x_shape, dtype, pool_size, strides, padding):
    """``run(x)``: ``pool.max_pool2d_forward(x, pool_size, strides, padding)[0]`` (the argmax unused)."""
    x_shape, dtype, y_shape, geometry, parallel = _prepare_pool("max_pool2d", x_shape, dtype, pool_size, strides,
                                                                padding)
    kernel = _specialized(_pool.max_pool2d_forward, dtype)

    def run(x):
        if not _fits(x, x_shape, dtype):
            return pool.max_pool2d_forward(x, pool_size, strides, padding)[0]
        y = np.empty(y_shape, dtype)
        kernel(x, *geometry, y, np.empty(y_shape, np.int64), _threads.team() if parallel else 1)
        return y
    return run


def prepare_avg_pool2d_forward(x_shape, dtype, pool_size, strides, padding):
    """``run(x)``: ``pool.avg_pool2d_forward(x, pool_size, strides, padding)``."""
    x_shape, dtype, y_shape, geometry, parallel = _prepare_pool("avg_pool2d", x_shape, dtype, pool_size, strides,
                                                                padding)
    kernel = _specialized(_pool.avg_pool2d_running_forward if pool._running(geometry[0]) else
                          _pool.avg_pool2d_forward, dtype)

    def run(x):
        if not _fits(x, x_shape, dtype):
            return pool.avg_pool2d_forward(x, pool_size, strides, padding)
        y = np.empty(y_shape, dtype)
        kernel(x, *geometry, y, _threads.team() if parallel else 1)
        return y
    return run
