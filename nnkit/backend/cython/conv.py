"""2-D convolution, NHWC input and HWIO kernel: validate, allocate, call ``nnkit._ext.conv``.

Same functions, signatures and errors as ``nnkit.backend.reference.conv``.
The kernel picks no algorithm itself; ``_algorithm`` does, here:

- depthwise (``groups == C``): a direct channels-last loop, no GEMM;
- pointwise (1x1, stride 1, no padding): the input is the column matrix;
- otherwise im2col + GEMM over chunks of output rows, so the column buffer
  stays within the workspace limit (``set_workspace_limit``) and, for speed,
  within ``_CACHE_CHUNK_BYTES`` where possible.
"""
import numpy as np

from ..validate import col2im_args, conv2d_args, conv2d_backward_args, im2col_args
from ..._ext import conv as _k

__all__ = ["conv2d_forward", "conv2d_backward", "im2col", "col2im",
           "set_workspace_limit", "get_workspace_limit"]

_workspace_limit = 64 * 2**20
# Columns of a chunk this size are written by im2col and read straight back by
# the GEMM while still in cache (measured: benchmarks/test_bench_conv.py).
_CACHE_CHUNK_BYTES = 2 * 2**20


def set_workspace_limit(nbytes):
    """Cap the im2col column buffer at ``nbytes`` (default 64 MiB).

    The batch is processed in chunks of output rows small enough to fit; a
    chunk is never smaller than one output row (``OW * KH * KW * C`` values),
    so a tiny limit means one row at a time, not an error.
    """
    global _workspace_limit
    nbytes = int(nbytes)
    if nbytes < 1:
        raise ValueError(f"set_workspace_limit: expected a positive number of bytes, got {nbytes}")
    _workspace_limit = nbytes


def get_workspace_limit():
    """The im2col column buffer limit in bytes."""
    return _workspace_limit


def _algorithm(x_shape, w_shape, out_size, strides, padding, groups):
    kh, kw = w_shape[:2]
    if groups == x_shape[3] and groups > 1:
        return _k.DEPTHWISE
    if (kh, kw) == (1, 1) and strides == (1, 1) and padding == ((0, 0), (0, 0)):
        return _k.POINTWISE
    return _k.IM2COL


def _workspace(algorithm, x, w_shape, out_size):
    """(work buffer, output rows per chunk) for ``algorithm``."""
    n, rows = x.shape[0], x.shape[0] * out_size[0]
    if algorithm != _k.IM2COL:
        return np.empty(0, x.dtype), max(rows, 1)
    row_elems = out_size[1] * w_shape[0] * w_shape[1] * x.shape[3]
    budget = min(_workspace_limit, _CACHE_CHUNK_BYTES)
    chunk = min(rows, max(1, budget // (row_elems * x.itemsize)))
    return np.empty(chunk * row_elems, x.dtype), chunk


def _geometry(strides, padding, dilation):
    (sh, sw), ((pt, _), (pl, _)), (dh, dw) = strides, padding, dilation
    return sh, sw, pt, pl, dh, dw


def im2col(x, kernel_size, strides, padding, dilation):
    """Unfold NHWC ``x`` into the (N*OH*OW, KH*KW*C) column matrix, columns ordered (kh, kw, c).

    Padded taps are 0.
    """
    x, (kh, kw), strides, padding, dilation, (oh, ow) = im2col_args("im2col", x, kernel_size, strides,
                                                                    padding, dilation)
    cols = np.empty((x.shape[0] * oh * ow, kh * kw * x.shape[3]), x.dtype)
    if cols.size:
        _k.im2col(x, cols, kh, kw, *_geometry(strides, padding, dilation), oh, ow)
    return cols


def col2im(cols, x_shape, kernel_size, strides, padding, dilation):
    """The adjoint of ``im2col``: fold columns back to ``x_shape``, summing overlaps."""
    cols, x_shape, (kh, kw), strides, padding, dilation, (oh, ow) = col2im_args(
        "col2im", cols, x_shape, kernel_size, strides, padding, dilation)
    dx = np.zeros(x_shape, cols.dtype)
    if cols.size:
        _k.col2im(cols, dx, kh, kw, *_geometry(strides, padding, dilation), oh, ow)
    return dx


def conv2d_forward(x, w, b, strides, padding, dilation, groups):
    """y = conv2d(x, w) + b: x (N, H, W, C), w (KH, KW, C/groups, F), b (F,) or None -> (N, OH, OW, F)."""
    x, w, b, strides, padding, dilation, groups, out = conv2d_args(
        "conv2d", x, w, b, strides, padding, dilation, groups)
    y = np.empty((x.shape[0],) + out + (w.shape[3],), x.dtype)
    if y.size:
        algorithm = _algorithm(x.shape, w.shape, out, strides, padding, groups)
        work, chunk = _workspace(algorithm, x, w.shape, out)
        _k.conv2d_forward(x, w, b, y, work, *_geometry(strides, padding, dilation), groups, algorithm, chunk)
    return y


def conv2d_backward(dy, x, w, strides, padding, dilation, groups, need_dx=True, need_dw=True, need_db=True):
    """Gradients of ``conv2d_forward`` given dL/dy: returns (dx, dw, db), None where not needed."""
    dy, x, w, strides, padding, dilation, groups, out = conv2d_backward_args(
        "conv2d_backward", dy, x, w, strides, padding, dilation, groups)
    algorithm = _algorithm(x.shape, w.shape, out, strides, padding, groups)
    dx = dw = db = None
    if need_dx:  # col2im accumulates into dx; the direct algorithms write every element
        dx = (np.zeros if algorithm == _k.IM2COL or not dy.size else np.empty)(x.shape, x.dtype)
    if need_dw:
        dw = np.zeros(w.shape, w.dtype)
    if need_db:
        db = np.zeros(w.shape[3], dy.dtype)
    if dy.size:
        work, chunk = _workspace(algorithm, x, w.shape, out)
        _k.conv2d_backward(dy, x, w, dx, dw, db, work, *_geometry(strides, padding, dilation), groups,
                           algorithm, chunk)
    return dx, dw, db
