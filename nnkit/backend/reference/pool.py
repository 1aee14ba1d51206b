"""2-D max and average pooling, NHWC: the pure-NumPy reference.

Each window is visited as ``ph * pw`` strided slices of the padded input, so
every line below is one vectorised operation over the whole output.  Padded
positions never win a max and never count towards an average (Keras
semantics).  The ``check_*`` functions are the argument checks shared with the
Cython backend.
"""
import numpy as np

from ..validate import (float_array, image_shape, index_range, int_array, memoized, padding_pairs, positive_pair,
                        shape_is, window_output)

__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward"]


# ----------------------------------------------------------------------------- argument checks

@memoized
def check_geometry(op, x_shape, pool_size, strides, padding):
    """Check a resolved geometry against an (N, H, W, C) shape.

    Returns ``(pool_size, strides, padding, (OH, OW))`` as ints.  Each padding
    must be smaller than the pool on its axis, so every window holds at least
    one real element.
    """
    pool = positive_pair(op, "pool_size", pool_size)
    strides = positive_pair(op, "strides", strides)
    pads = padding_pairs(op, padding)
    for i, axis in enumerate(("height", "width")):
        if max(pads[i]) >= pool[i]:
            raise ValueError(f"{op}: expected {axis} padding smaller than the pool size {pool[i]}, "
                             f"got padding {pads[i]}")
    return pool, strides, pads, window_output(op, x_shape, pool, strides, pads)


def check_forward(op, x, pool_size, strides, padding):
    """Forward arguments: returns ``(x, pool_size, strides, padding, (OH, OW))``."""
    x = float_array(op, "x", x, ndim=4)
    return (x,) + check_geometry(op, x.shape, pool_size, strides, padding)


def check_x_shape(op, x_shape, dy):
    """``x_shape`` is four non-negative ints agreeing with ``dy`` on N and C."""
    shape = image_shape(op, "x_shape", x_shape)
    if (shape[0], shape[3]) != (dy.shape[0], dy.shape[3]):
        raise ValueError(f"{op}: expected dy {dy.shape} and x_shape {shape} to agree on N and C")
    return shape


def check_max_backward(dy, argmax, x_shape, check_range=True):
    """Returns ``(dy, argmax as C-contiguous int64, x_shape)``.

    The range check of ``argmax`` (a full pass) may be left to a kernel that
    checks as it scatters; it must then call ``argmax_range`` on failure.
    """
    op = "max_pool2d"
    dy = float_array(op, "dy", dy, ndim=4)
    argmax = int_array(op, "argmax", argmax, dy.shape)
    x_shape = check_x_shape(op, x_shape, dy)
    if check_range:
        argmax_range(argmax, x_shape)
    return dy, argmax, x_shape


def argmax_range(argmax, x_shape):
    index_range("max_pool2d", "argmax", argmax, x_shape[1] * x_shape[2])


def check_avg_backward(dy, x_shape, pool_size, strides, padding):
    """Returns ``(dy, x_shape, pool_size, strides, padding)``; dy must match the forward output."""
    op = "avg_pool2d"
    dy = float_array(op, "dy", dy, ndim=4)
    x_shape = check_x_shape(op, x_shape, dy)
    pool, strides, pads, (oh, ow) = check_geometry(op, x_shape, pool_size, strides, padding)
    shape_is(op, "dy", dy, (x_shape[0], oh, ow, x_shape[3]))
    return dy, x_shape, pool, strides, pads


# ----------------------------------------------------------------------------- window bookkeeping

def _window_axis(size, k, stride, pad_before, out):
    """For one spatial axis: the input coordinate of window offset ``i`` for each output
    position (``coord[i]``, shape (out,)), whether it is real, and the real count per window."""
    start = np.arange(out) * stride - pad_before
    coord = [start + i for i in range(k)]
    real = [(c >= 0) & (c < size) for c in coord]
    count = np.minimum(start + k, size) - np.maximum(start, 0)
    return coord, real, count


def _slices(pool, strides, out):
    """The strided slice of the padded input seen by window offset (i, j)."""
    for i in range(pool[0]):
        for j in range(pool[1]):
            yield i, j, (slice(None), slice(i, i + strides[0] * out[0], strides[0]),
                         slice(j, j + strides[1] * out[1], strides[1]))


def _pad(x, pads, value):
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


# ----------------------------------------------------------------------------- ops

def max_pool2d_forward(x, pool_size, strides, padding):
    """Max pooling over (N, H, W, C).

    Returns ``(y, argmax)``: ``y`` is (N, OH, OW, C) and ``argmax`` (int64,
    same shape) holds the flat index ``h * W + w`` of each maximum within its
    image/channel plane.  Padded positions never win; ties go to the first
    maximum in row-major window order.
    """
    x, pool, strides, pads, out = check_forward("max_pool2d", x, pool_size, strides, padding)
    n, h, w, c = x.shape
    hc, hreal, _ = _window_axis(h, pool[0], strides[0], pads[0][0], out[0])
    wc, wreal, _ = _window_axis(w, pool[1], strides[1], pads[1][0], out[1])
    xp = _pad(x, pads, -np.inf)
    y = np.full((n, *out, c), -np.inf, dtype=x.dtype)
    argmax = np.full((n, *out, c), -1, dtype=np.int64)
    for i, j, sl in _slices(pool, strides, out):
        v = xp[sl]
        real = (hreal[i][:, None] & wreal[j][None, :])[..., None]
        # strictly greater keeps the first maximum; the first real element always enters
        better = (v > y) | ((argmax < 0) & real)
        y = np.where(better, v, y)
        argmax = np.where(better, (hc[i][:, None] * w + wc[j][None, :])[..., None], argmax)
    return y, argmax


def max_pool2d_backward(dy, argmax, x_shape):
    """Gradient of max pooling: ``dx[n, argmax, c] += dy`` (windows may overlap)."""
    dy, argmax, x_shape = check_max_backward(dy, argmax, x_shape)
    n, h, w, c = x_shape
    dx = np.zeros((n, h * w, c), dtype=dy.dtype)
    np.add.at(dx, (np.arange(n)[:, None, None, None], argmax, np.arange(c)), dy)
    return dx.reshape(x_shape)


def avg_pool2d_forward(x, pool_size, strides, padding):
    """Average pooling over (N, H, W, C); each window is averaged over its real
    (unpadded) elements only."""
    x, pool, strides, pads, out = check_forward("avg_pool2d", x, pool_size, strides, padding)
    xp = _pad(x, pads, 0)
    y = np.zeros((x.shape[0], *out, x.shape[3]), dtype=x.dtype)
    for _, _, sl in _slices(pool, strides, out):
        y += xp[sl]
    return y / _counts(x.shape, pool, strides, pads, out).astype(x.dtype)


def avg_pool2d_backward(dy, x_shape, pool_size, strides, padding):
    """Gradient of average pooling: each ``dy / count`` spread over its window's real elements."""
    dy, x_shape, pool, strides, pads = check_avg_backward(dy, x_shape, pool_size, strides, padding)
    out = dy.shape[1:3]
    g = dy / _counts(x_shape, pool, strides, pads, out).astype(dy.dtype)
    n, h, w, c = x_shape
    dxp = np.zeros((n, h + sum(pads[0]), w + sum(pads[1]), c), dtype=dy.dtype)
    for _, _, sl in _slices(pool, strides, out):
        dxp[sl] += g
    return np.ascontiguousarray(dxp[:, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + w])


def _counts(x_shape, pool, strides, pads, out):
    """Real elements per window, shape (OH, OW, 1)."""
    ch = _window_axis(x_shape[1], pool[0], strides[0], pads[0][0], out[0])[2]
    cw = _window_axis(x_shape[2], pool[1], strides[1], pads[1][0], out[1])[2]
    return (ch[:, None] * cw[None, :])[..., None]
