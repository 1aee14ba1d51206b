"""2-D convolution, NHWC input and HWIO kernel: validate, allocate, call ``nnkit._ext.conv``.

Same functions, signatures and errors as ``nnkit.backend.reference.conv``.
The kernel picks no algorithm itself; ``_algorithm`` does, here:

- forward only, stride 1, no dilation or groups, few channels (``C <= _FEW_CHANNELS``
  or ``C * F <= _DIRECT_MAX_CF``): direct, sums kept in vector registers
  (``csrc/conv_direct.h``), no columns; its backward pass is im2col's;
- depthwise (``groups == C``): a direct channels-last loop, no GEMM;
- pointwise (1x1, stride 1, no padding): the input is the column matrix;
- few input channels (``groups == 1``, ``C <= _FEW_CHANNELS``): im2col into
  transposed columns, one long run per tap;
- 3x3, stride 1, no dilation or groups, ``_WINOGRAD_MIN_CHANNELS`` channels
  and filters or more: Winograd (``csrc/winograd.pyx``): F(2x2, 3x3) for the
  forward pass and for dx (a 3x3 convolution of dy with the flipped kernel),
  F(3x3, 2x2) for dw;
- otherwise im2col + one GEMM per group.

The GEMM algorithms split the output rows into chunks (``_plan``); each OpenMP
thread takes whole chunks, im2cols one into its own buffer and multiplies it
with a single-threaded BLAS call while the columns are still in its core's
cache.  The buffers stay within the workspace limit (``set_workspace_limit``).
"""
import operator

import numpy as np

from ..reference import conv as _reference
from ..reference.conv import check_col2im, check_conv2d, check_conv2d_backward, check_im2col
from ..twin import twin_of
from ..._ext import conv as _k
from nnkit import threads as _threads
from ..._ext import winograd as _winograd

__all__ = ["conv2d_forward", "conv2d_backward", "im2col", "col2im",
           "set_workspace_limit", "get_workspace_limit"]

_workspace_limit = 64 * 2**20
# Each thread's column buffer is written by im2col and read straight back by its
# GEMM while still in that core's cache (measured: `nnkit bench --only conv`).
_CACHE_CHUNK_BYTES = 1 * 2**20
# ... and holds at most this many output pixels (few-channel layers, whose rows are
# short, otherwise get chunks whose GEMM output no longer fits beside the columns).
_CHUNK_PIXELS = 4096
# Up to this many input channels the columns are built transposed, one run per
# (tap, channel) along the output row, instead of KW * C values at a time.
_FEW_CHANNELS = 4
# The direct forward up to this many channels x filters (and for C <= _FEW_CHANNELS), measured at 1 thread,
# 64 images, against im2col + MKL or Winograd: 1.3-1.8x at C x F = 96-192 (6 -> 16 k5, 8 -> 16, 16 -> 8,
# 6 -> 32), 1.4-4.6x for C <= 4 (1 -> 6 k5, 3 -> 16/64, 4 -> 64, 2 -> 128); 0.81-0.86x at 288-1024.
_DIRECT_MAX_CF = 192
# Below this much work (multiply-adds x 2, or bytes copied) a call runs on one thread.
_MIN_PARALLEL_FLOP = 2_000_000
# Winograd F(2x2, 3x3) from this many input channels and filters on (measured at 2 threads,
# 64 images: 1.1x im2col at 16 channels, 1.45x at 32, 1.8-2x at 64 and more).
_WINOGRAD_MIN_CHANNELS = 16
# Each thread's transformed tiles (16 x tiles x (C + F) values) stay within this many bytes.
_WINOGRAD_CHUNK_BYTES = 512 * 2**10
# The algorithm name for Winograd (the others are the conv kernel's constants).
WINOGRAD = "winograd"
# Winograd's kernel transform G (4 x 3) for F(2x2, 3x3).
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def set_workspace_limit(nbytes):
    """Cap the im2col column buffers (all threads together) at ``nbytes``; default 64 MiB.

    The batch is processed in chunks of output rows small enough to fit; a
    chunk is never smaller than one output row (``OW * KH * KW * C`` values
    per thread), so a tiny limit means one row at a time, not an error.
    """
    global _workspace_limit
    try:
        nbytes = operator.index(nbytes)
    except TypeError:
        raise TypeError(f"set_workspace_limit: expected an int number of bytes, got {nbytes!r}") from None
    if nbytes < 1:
        raise ValueError(f"set_workspace_limit: expected a positive number of bytes, got {nbytes}")
    _workspace_limit = nbytes


def get_workspace_limit():
    """The im2col column buffer limit in bytes."""
    return _workspace_limit


def _winograd_carries(a, b, terms):
    """Whether Winograd's transforms can carry a sum of ``terms`` products of ``a``'s and ``b``'s values.

    The transforms add and subtract values (an inf meets a -inf: NaN where the direct sum
    has inf) and grow them up to 81x on the way (|B^T d B| <= 4 max|d|, |G g G^T| <= 2.25
    max|g|, |A^T M A| <= 9 max|M|): near the float's range they overflow where the direct
    result is finite.  One pass over each operand (no copy) decides; NaN compares False.
    """
    if not a.size or not b.size:
        return True
    bound = max(float(a.max()), -float(a.min())) * max(float(b.max()), -float(b.min()))
    return bound * 81.0 * terms < float(np.finfo(a.dtype).max) / 4


def _algorithm(x_shape, w_shape, strides, padding, dilation, groups):
    """The forward pass's algorithm (``_backward_algorithm`` maps it for the backward pass)."""
    c, f = x_shape[3], w_shape[3]
    if strides == (1, 1) and dilation == (1, 1) and groups == 1 and (c <= _FEW_CHANNELS or c * f <= _DIRECT_MAX_CF):
        return _k.DIRECT
    if (w_shape[:2] == (3, 3) and strides == (1, 1) and dilation == (1, 1) and groups == 1
            and min(x_shape[3], w_shape[3]) >= _WINOGRAD_MIN_CHANNELS and max(sum(padding, ())) <= 2):
        return WINOGRAD
    if groups == x_shape[3] and groups > 1:
        return _k.DEPTHWISE
    if w_shape[:2] == (1, 1) and strides == (1, 1) and padding == ((0, 0), (0, 0)):
        return _k.POINTWISE
    if groups == 1 and x_shape[3] <= _FEW_CHANNELS:
        return _k.IM2COL_T
    return _k.IM2COL


def _backward_algorithm(algorithm, x_shape):
    """DIRECT is forward only: its backward pass runs im2col (transposed for few channels)."""
    if algorithm != _k.DIRECT:
        return algorithm
    return _k.IM2COL_T if x_shape[3] <= _FEW_CHANNELS else _k.IM2COL


def _plan(x, w_shape, out_size, strides, dilation, backward):
    """(output rows per chunk, OpenMP threads) for one call.

    Small problems run on one thread (a parallel region costs more than it
    saves).  Otherwise each thread's columns stay within its share of the
    workspace limit and within cache; chunks are whole images where they fit
    (backward then never folds two chunks into the same dx row); and there is a
    whole number of rounds of chunks for every thread (the backward pass folds
    chunks that share dx rows in two or more phases: balance each phase).
    """
    n, oh = x.shape[0], out_size[0]
    nthreads = _threads.team_above(_flop(n, w_shape, out_size), _MIN_PARALLEL_FLOP)
    row_bytes = out_size[1] * w_shape[0] * w_shape[1] * x.shape[3] * x.itemsize
    cap = max(1, min(min(_workspace_limit // nthreads, _CACHE_CHUNK_BYTES) // row_bytes,
                     _CHUNK_PIXELS // out_size[1]))

    def balanced(units, per_chunk, rounds):
        """The largest chunk size <= per_chunk that makes a multiple of ``rounds`` chunks,
        or failing that, about equal chunks."""
        if nthreads == 1:
            return per_chunk
        for size in range(per_chunk, max(per_chunk // 2, 1) - 1, -1):
            if -(-units // size) % rounds == 0:
                return size
        chunks = min(units, -(-units // per_chunk // rounds) * rounds)
        return -(-units // chunks)

    if cap >= oh:
        return balanced(n, cap // oh, nthreads) * oh, nthreads
    overlap = (w_shape[0] - 1) * dilation[0] >= strides[0]
    return balanced(n * oh, cap, nthreads * (2 if backward and overlap else 1)), nthreads


def _flop(n, w_shape, out_size):
    """Multiply-adds x 2 of a GEMM convolution of ``n`` images into ``out_size`` (OH, OW)."""
    return 2 * n * out_size[0] * out_size[1] * w_shape[0] * w_shape[1] * w_shape[2] * w_shape[3]


def _copy_threads(nbytes):
    """OpenMP threads for a pure copy (im2col, col2im) of ``nbytes``."""
    return _threads.team_above(nbytes, _MIN_PARALLEL_FLOP)


def _geometry(strides, padding, dilation):
    (sh, sw), ((pt, _), (pl, _)), (dh, dw) = strides, padding, dilation
    return sh, sw, pt, pl, dh, dw


@twin_of(_reference.im2col)
def im2col(x, kernel_size, strides, padding, dilation):
    x, (kh, kw), strides, padding, dilation, (oh, ow) = check_im2col("im2col", x, kernel_size, strides,
                                                                     padding, dilation)
    cols = np.empty((x.shape[0] * oh * ow, kh * kw * x.shape[3]), x.dtype)
    if cols.size:
        _k.im2col(x, cols, kh, kw, *_geometry(strides, padding, dilation), oh, ow, _copy_threads(cols.nbytes))
    return cols


@twin_of(_reference.col2im)
def col2im(cols, x_shape, kernel_size, strides, padding, dilation):
    cols, x_shape, (kh, kw), strides, padding, dilation, (oh, ow) = check_col2im(
        "col2im", cols, x_shape, kernel_size, strides, padding, dilation)
    dx = np.zeros(x_shape, cols.dtype)
    if cols.size:
        _k.col2im(cols, dx, kh, kw, *_geometry(strides, padding, dilation), oh, ow,
                  _copy_threads(cols.nbytes))
    return dx


def _winograd_forward(x, w, b, padding, y):
    """y = conv2d(x, w) + b for a 3x3 kernel at stride 1, by Winograd F(2x2, 3x3)."""
    g = _G.astype(w.dtype)
    u = np.tensordot(g, np.tensordot(g, w, axes=(1, 0)), axes=(1, 1))  # (4 cols, 4 rows, C, F)
    u = np.ascontiguousarray(u.transpose(1, 0, 2, 3).reshape(16, w.shape[2], w.shape[3]))
    chunk, nthreads = _winograd_plan(x, y.shape)
    if _winograd.conv3x3_forward(x, u, b, y, padding[0][0], padding[1][0], chunk, nthreads):
        raise MemoryError(f"conv2d: could not allocate the Winograd buffers ({chunk} tiles per thread)")
    return y


@twin_of(_reference.conv2d_forward)
def conv2d_forward(x, w, b, strides, padding, dilation, groups):
    x, w, b, strides, padding, dilation, groups, out = check_conv2d(
        "conv2d", x, w, b, strides, padding, dilation, groups)
    y = np.empty((x.shape[0],) + out + (w.shape[3],), x.dtype)
    if y.size:
        algorithm = _algorithm(x.shape, w.shape, strides, padding, dilation, groups)
        if algorithm == WINOGRAD and not _winograd_carries(x, w, 9 * x.shape[3]):
            algorithm = _k.IM2COL  # non-finite or huge values: the direct answer, inf for inf
        if algorithm == WINOGRAD:
            return _winograd_forward(x, w, b, padding, y)
        chunk, nthreads = _plan(x, w.shape, out, strides, dilation, backward=False)
        # The GEMMs run inside the OpenMP workers, on the BLAS that nnkit.set_num_threads
        # keeps single-threaded: one thread pool in all.
        _k.conv2d_forward(x, w, b, y, *_geometry(strides, padding, dilation), groups, algorithm, chunk, nthreads)
    return y


@twin_of(_reference.conv2d_backward)
def conv2d_backward(dy, x, w, strides, padding, dilation, groups, need_dx=True, need_dw=True, need_db=True):
    dy, x, w, strides, padding, dilation, groups, out = check_conv2d_backward(
        "conv2d_backward", dy, x, w, strides, padding, dilation, groups)
    algorithm = _backward_algorithm(_algorithm(x.shape, w.shape, strides, padding, dilation, groups), x.shape)
    if algorithm == WINOGRAD and not ((not need_dx or _winograd_carries(dy, w, 9 * w.shape[3])) and
                                      (not need_dw or _winograd_carries(dy, x, dy.size // dy.shape[3]))):
        algorithm = _k.IM2COL  # as in the forward pass
    if algorithm == WINOGRAD:
        return (_winograd_dx(dy, w, padding, x.shape) if need_dx else None,
                _winograd_dw(dy, x, padding) if need_dw else None,
                dy.sum(axis=(0, 1, 2)) if need_db else None)
    return _gemm_backward(dy, x, w, strides, padding, dilation, groups, out, algorithm, need_dx, need_dw, need_db)


def _winograd_plan(x, out_shape):
    """(tiles per chunk, OpenMP threads) for a Winograd pass from ``x`` to an (N, OH, OW, F) output.

    Each thread's 16 x tiles x (C + F) transformed values fit _WINOGRAD_CHUNK_BYTES; small problems run on one
    thread, and no thread is started without a chunk to take.
    """
    n, oh, ow, f = out_shape
    chunk = max(16, min(128, _WINOGRAD_CHUNK_BYTES // (16 * (x.shape[3] + f) * x.itemsize)))
    tiles = n * -(-oh // 2) * -(-ow // 2)
    flop = 2 * n * oh * ow * f * 9 * x.shape[3]
    threads = _threads.team_above(flop, _MIN_PARALLEL_FLOP)
    return chunk, min(threads, -(-tiles // chunk))


def _winograd_dw(dy, x, padding):
    """dw of a 3x3 stride-1 convolution: per-thread sums of transformed tiles, added in thread order."""
    c, f = x.shape[3], dy.shape[3]
    if not dy.size:
        return np.zeros((3, 3, c, f), x.dtype)
    chunk, nthreads = _winograd_plan(x, dy.shape)
    # One 16 x C x F partial per thread: as many threads as the workspace limit holds partials (at least one).
    nthreads = max(1, min(nthreads, _workspace_limit // (16 * c * f * x.itemsize)))
    partials = np.empty((nthreads, 16, c, f), x.dtype)
    if _winograd.conv3x3_weight_grad(x, dy, partials, padding[0][0], padding[1][0], chunk, nthreads):
        raise MemoryError(f"conv2d_backward: could not allocate the Winograd buffers ({chunk} tiles per thread)")
    m = partials.sum(axis=0).reshape(4, 4, c, f)
    g = _G.astype(x.dtype)
    return np.ascontiguousarray(np.tensordot(g, np.tensordot(g, m, axes=(0, 1)), axes=(0, 1)))  # G^T m G


def _winograd_dx(dy, w, padding, x_shape):
    """dx of a 3x3 stride-1 convolution: dy convolved with the flipped kernel, its channels swapped."""
    if not dy.size:
        return np.zeros(x_shape, dy.dtype)
    flipped = np.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))
    (pt, pb), (pl, pr) = padding
    return _winograd_forward(dy, flipped, None, ((2 - pt, 2 - pb), (2 - pl, 2 - pr)), np.empty(x_shape, dy.dtype))


def _gemm_backward(dy, x, w, strides, padding, dilation, groups, out, algorithm, need_dx, need_dw, need_db):
    alloc = np.empty if dy.size else np.zeros  # the kernel writes every element...
    # ... except of dx when it folds columns into it (zeros from calloc cost no pass over memory)
    folds = algorithm in (_k.IM2COL, _k.IM2COL_T)
    dx = (np.zeros if folds else alloc)(x.shape, x.dtype) if need_dx else None
    dw = alloc(w.shape, w.dtype) if need_dw else None
    db = alloc(w.shape[3], w.dtype) if need_db else None
    if dy.size:
        chunk, nthreads = _plan(x, w.shape, out, strides, dilation, backward=True)
        _k.conv2d_backward(dy, x, w, dx, dw, db, *_geometry(strides, padding, dilation), groups, algorithm,
                           chunk, nthreads)
    return dx, dw, db
