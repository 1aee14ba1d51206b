"""Input checks shared by both backends.

Every check raises before compiled code runs, with a message naming the op,
what it expected and what it got.  Checks return normalised values (for
example a C-contiguous copy) so callers can hand them straight to a kernel.
"""
import functools
import math
import operator

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def memoized(fn):
    """Cache a pure geometry check on its (hashable) arguments; unhashable ones skip the cache.

    The same layer checks the same shapes every step, and these checks cost
    more than a small kernel.  Errors are never cached: a bad call raises
    every time.  Arguments are keyed with their types (``groups=1.0`` or
    ``True`` is never served ``groups=1``'s answer); values inside tuples are
    coerced to ints by the checks themselves, whatever their type.
    """
    cached = functools.lru_cache(maxsize=4096, typed=True)(fn)

    @functools.wraps(fn)
    def check(*args):
        try:
            hash(args)
        except TypeError:  # a list somewhere: check without the cache
            return fn(*args)
        return cached(*args)
    return check


def float_array(op, name, a, ndim=None):
    """Return ``a`` as a C-contiguous float32/float64 array, checking ndim."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{op}: expected {name} to be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: expected {name} to be float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{op}: expected {name} to have {ndim} dimensions, got shape {a.shape}")
    return np.ascontiguousarray(a)


def as_rows(a):
    """``a`` (..., C) as its (M, C) matrix of rows.  Unlike ``reshape(-1, C)``, also when C is 0 (then -1 is
    ambiguous and NumPy refuses: "cannot reshape array of size 0")."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def same_dtype(op, **arrays):
    """Mixed float dtypes are an error, never a silent cast."""
    dtype = None
    for v in arrays.values():
        if v is not None:
            if dtype is not None and v.dtype != dtype:
                got = ", ".join(f"{k}={a.dtype}" for k, a in arrays.items() if a is not None)
                raise TypeError(f"{op}: all inputs must share one dtype, got {got}")
            dtype = v.dtype


def same_shape(op, name_a, a, name_b, b):
    if a.shape != b.shape:
        raise ValueError(f"{op}: expected {name_a} and {name_b} to have the same shape, "
                         f"got {a.shape} and {b.shape}")


# Geometry values reach the kernels as Py_ssize_t, and sums and products of them must not overflow
# there either: anything this large is refused (no real input is within orders of magnitude of it).
MAX_GEOMETRY = 2**62


def geometry_int(op, name, v, low, value=None):
    """One geometry value (a stride, a pad, a pool size): an int (not bool, not float) in [low, MAX_GEOMETRY)."""
    shown = v if value is None else value
    if isinstance(v, bool):
        raise TypeError(f"{op}: expected {name} to be integers, got {shown!r}")
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{op}: expected {name} to be integers, got {shown!r} "
                        f"(a {type(v).__name__})") from None
    if v < low or v >= MAX_GEOMETRY:
        kind = "positive" if low == 1 else "non-negative"
        raise ValueError(f"{op}: expected {name} to be {kind} integers below 2**62, got {shown!r}")
    return v


def positive_pair(op, name, value):
    """A pair of positive ints (strides, dilation, pool size)."""
    try:
        pair = tuple(value)
    except TypeError:
        raise TypeError(f"{op}: expected {name} to be two positive integers, got {value!r}") from None
    if len(pair) != 2:
        raise ValueError(f"{op}: expected {name} to be two positive integers, got {value!r}")
    return tuple(geometry_int(op, name, v, 1, value) for v in pair)


def padding_pairs(op, padding):
    """((top, bottom), (left, right)) of non-negative ints."""
    try:
        (pt, pb), (pl, pr) = padding
    except (TypeError, ValueError):
        raise ValueError(f"{op}: expected padding ((top, bottom), (left, right)), got {padding!r}") from None
    return tuple(tuple(geometry_int(op, "padding", v, 0, padding) for v in pair) for pair in ((pt, pb), (pl, pr)))


def output_size(op, size, kernel, stride, pad_total, dilation, axis):
    """Length of one spatial output axis; must be positive."""
    span = (kernel - 1) * dilation + 1
    out = (size + pad_total - span) // stride + 1
    if size + pad_total < span or out <= 0:
        raise ValueError(f"{op}: the {axis} window ({kernel} with dilation {dilation}, span {span}) "
                         f"is larger than the padded input ({size} + padding {pad_total}); "
                         f"output size would be {out}")
    return out


def shape_is(op, name, a, expected):
    """``a.shape`` must equal ``expected`` exactly."""
    expected = tuple(expected)
    if a.shape != expected:
        raise ValueError(f"{op}: expected {name} to have shape {expected}, got {a.shape}")


def int_array(op, name, a, shape):
    """Return integer array ``a`` of ``shape`` as a C-contiguous int64 array (no range check)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{op}: expected {name} to be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected {name} to have an integer dtype, got {a.dtype}")
    shape_is(op, name, a, shape)
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{op}: {name} value {a.max()} does not fit in int64")
    return np.ascontiguousarray(a, dtype=np.int64)


def index_range(op, name, a, high):
    """Every value of integer array ``a`` must lie in [0, high); the error names a bad value."""
    if a.size:
        lo, hi = a.min(), a.max()
        if lo < 0 or hi >= high:
            raise ValueError(f"{op}: expected {name} values in [0, {high}), got {lo if lo < 0 else hi}")


def scalar_in(op, name, value, low, high, low_open=False):
    """A real number in [low, high], or (low, high] when ``low_open``; NaN is rejected."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: expected {name} to be a real number, got {value!r}") from None
    if not ((v > low if low_open else v >= low) and v <= high):
        raise ValueError(f"{op}: expected {name} in {'(' if low_open else '['}{low}, {high}], got {value!r}")
    return v


@memoized
def conv_window(op, x_shape, kernel_size, strides, padding, dilation):
    """A 2-D sliding window (conv, im2col) over an (N, H, W, C) shape.

    Returns ``(kernel_size, strides, padding, dilation, (OH, OW))`` as ints;
    every output size must be positive.
    """
    kernel = positive_pair(op, "kernel_size", kernel_size)
    strides = positive_pair(op, "strides", strides)
    dilation = positive_pair(op, "dilation", dilation)
    pads = padding_pairs(op, padding)
    for i, axis in enumerate(("height", "width")):
        if x_shape[1 + i] < 1:
            raise ValueError(f"{op}: expected a positive input {axis}, got shape {tuple(x_shape)}")
    out = tuple(output_size(op, x_shape[1 + i], kernel[i], strides[i], sum(pads[i]), dilation[i], axis)
                for i, axis in enumerate(("height", "width")))
    return kernel, strides, pads, dilation, out


def conv2d_args(op, x, w, b, strides, padding, dilation, groups):
    """Check conv2d arguments: NHWC ``x``, HWIO ``w`` of ``C // groups`` input channels, ``b`` (F,) or None.

    Returns ``(x, w, b, strides, padding, dilation, groups, (OH, OW))`` with the
    arrays C-contiguous and the geometry as ints.
    """
    x = float_array(op, "x", x, ndim=4)
    w = float_array(op, "w", w, ndim=4)
    if b is not None:
        b = float_array(op, "b", b, ndim=1)
    same_dtype(op, x=x, w=w, b=b)
    geometry = conv2d_geometry(op, x.shape, w.shape, None if b is None else b.shape, strides, padding,
                               dilation, groups)
    return (x, w, b) + geometry


@memoized
def conv2d_geometry(op, x_shape, w_shape, b_shape, strides, padding, dilation, groups):
    """The shape and geometry half of ``conv2d_args``: ``(strides, padding, dilation, groups, (OH, OW))``."""
    try:
        groups = operator.index(groups)
    except TypeError:
        raise TypeError(f"{op}: expected groups to be an int, got {groups!r}") from None
    if groups < 1:
        raise ValueError(f"{op}: expected groups >= 1, got groups={groups}")
    C, (KH, KW, CG, F) = x_shape[3], w_shape
    if min(w_shape) < 1:
        raise ValueError(f"{op}: expected w (KH, KW, C // groups, F) to have no empty dimension, "
                         f"got shape {w_shape}")
    if C % groups:
        raise ValueError(f"{op}: expected groups={groups} to divide the input channels C={C} "
                         f"(x shape {x_shape})")
    if CG * groups != C:
        raise ValueError(f"{op}: expected w to have C // groups = {C // groups} input channels "
                         f"(x shape {x_shape}, groups={groups}), got w shape {w_shape}")
    if F % groups:
        raise ValueError(f"{op}: expected groups={groups} to divide the filter count F={F} "
                         f"(w shape {w_shape})")
    if b_shape is not None and b_shape != (F,):
        raise ValueError(f"{op}: expected b to have shape {(F,)}, got {b_shape}")
    _, strides, pads, dilation, out = conv_window(op, x_shape, (KH, KW), strides, padding, dilation)
    return strides, pads, dilation, groups, out


def conv2d_backward_args(op, dy, x, w, strides, padding, dilation, groups):
    """``conv2d_args`` (no bias) plus ``dy``, which must have the forward output's shape.

    Returns ``(dy, x, w, strides, padding, dilation, groups, (OH, OW))``.
    """
    x, w, _, strides, pads, dilation, groups, out = conv2d_args(op, x, w, None, strides, padding,
                                                                dilation, groups)
    dy = float_array(op, "dy", dy, ndim=4)
    same_dtype(op, dy=dy, x=x, w=w)
    shape_is(op, "dy", dy, (x.shape[0],) + out + (w.shape[3],))
    return dy, x, w, strides, pads, dilation, groups, out


def im2col_args(op, x, kernel_size, strides, padding, dilation):
    """Returns ``(x, kernel_size, strides, padding, dilation, (OH, OW))``."""
    x = float_array(op, "x", x, ndim=4)
    return (x,) + conv_window(op, x.shape, kernel_size, strides, padding, dilation)


def col2im_args(op, cols, x_shape, kernel_size, strides, padding, dilation):
    """``cols`` must be ``(N * OH * OW, KH * KW * C)`` for ``x_shape = (N, H, W, C)``.

    Returns ``(cols, x_shape, kernel_size, strides, padding, dilation, (OH, OW))``.
    """
    cols = float_array(op, "cols", cols, ndim=2)
    try:
        shape = tuple(operator.index(s) for s in x_shape)
    except TypeError:
        raise TypeError(f"{op}: expected x_shape to be (N, H, W, C) ints, got {x_shape!r}") from None
    if len(shape) != 4 or min(shape) < 0:
        raise ValueError(f"{op}: expected x_shape to be (N, H, W, C) non-negative ints, got {x_shape!r}")
    kernel, strides, pads, dilation, out = conv_window(op, shape, kernel_size, strides, padding, dilation)
    shape_is(op, "cols", cols, (shape[0] * out[0] * out[1], kernel[0] * kernel[1] * shape[3]))
    return cols, shape, kernel, strides, pads, dilation, out
