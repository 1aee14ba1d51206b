"""Input checks shared by both backends.

Every check raises before compiled code runs, with a message naming the op,
what it expected and what it got.  Checks return normalised values (for
example a C-contiguous copy) so callers can hand them straight to a kernel.
"""
import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_array(op, name, a, ndim=None):
    """Return ``a`` as a C-contiguous float32/float64 array, checking ndim."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{op}: expected {name} to be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: expected {name} to be float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{op}: expected {name} to have {ndim} dimensions, got shape {a.shape}")
    return np.ascontiguousarray(a)


def same_dtype(op, **arrays):
    """Mixed float dtypes are an error, never a silent cast."""
    present = {k: v for k, v in arrays.items() if v is not None}
    dtypes = {v.dtype for v in present.values()}
    if len(dtypes) > 1:
        got = ", ".join(f"{k}={v.dtype}" for k, v in present.items())
        raise TypeError(f"{op}: all inputs must share one dtype, got {got}")


def same_shape(op, name_a, a, name_b, b):
    if a.shape != b.shape:
        raise ValueError(f"{op}: expected {name_a} and {name_b} to have the same shape, "
                         f"got {a.shape} and {b.shape}")


def positive_pair(op, name, value):
    """A pair of positive ints (strides, dilation, pool size)."""
    pair = tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) <= 0:
        raise ValueError(f"{op}: expected {name} to be two positive integers, got {value!r}")
    return pair


def padding_pairs(op, padding):
    """((top, bottom), (left, right)) of non-negative ints."""
    try:
        (pt, pb), (pl, pr) = padding
        pads = ((int(pt), int(pb)), (int(pl), int(pr)))
    except (TypeError, ValueError):
        raise ValueError(f"{op}: expected padding ((top, bottom), (left, right)), got {padding!r}") from None
    if min(pads[0] + pads[1]) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return pads


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
