"""The vocabulary of argument checks, shared by every op of both backends (and the ops above them).

Every check raises before compiled code runs, with a message naming the op,
what it expected and what it got: ``"<op>: expected <name> to be <what>, got
<value>"``.  Checks return normalised values (for example a C-contiguous copy,
or ints for a geometry) so callers can hand them straight to a kernel.  Each
family's own checks (``check_*``) live in its reference module
(``nnkit.backend.reference.<family>``), built from these words, and both
backends call them before any work: validate, then call.
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


def float_ndarray(op, name, a, ndim=None):
    """``a`` itself, which must be a float32/float64 numpy array (of ``ndim`` dimensions): an array updated in
    place is checked, never copied."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{op}: expected {name} to be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: expected {name} to be float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{op}: expected {name} to have {ndim} dimensions, got shape {a.shape}")
    return a


def float_array(op, name, a, ndim=None):
    """Return ``a`` as a C-contiguous float32/float64 array, checking ndim."""
    return np.ascontiguousarray(float_ndarray(op, name, a, ndim))


def out_array(op, out, shape, dtype):
    """``out`` (None stays None): a writable C-contiguous array of ``shape`` and ``dtype`` for a kernel to write
    or add into."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{op}: expected out to be a numpy.ndarray, got {type(out).__name__}")
    shape_is(op, "out", out, shape)
    if out.dtype != dtype:
        raise TypeError(f"{op}: expected out of dtype {dtype}, got {out.dtype}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(f"{op}: expected out to be a writable C-contiguous array, got strides {out.strides}"
                         f"{'' if out.flags.writeable else ' (read-only)'}")
    return out


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
    """One int (not bool, not float) in [low, MAX_GEOMETRY): a stride, a pad, a size, a group count.

    ``value`` is the whole argument ``v`` came from (a pair, a padding), shown in the message instead of ``v``.
    """
    shown = v if value is None else value
    what = "integers" if value is not None else "an integer"
    if isinstance(v, bool):
        raise TypeError(f"{op}: expected {name} to be {what}, got {shown!r}")
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{op}: expected {name} to be {what}, got {shown!r} "
                        f"(a {type(v).__name__})") from None
    if v < low or v >= MAX_GEOMETRY:
        kind = "positive" if low == 1 else "non-negative"
        what = f"{kind} integers" if value is not None else f"a {kind} integer"
        raise ValueError(f"{op}: expected {name} to be {what} below 2**62, got {shown!r}")
    return v


def positive_int(op, name, value):
    """An int >= 1 (groups, steps, a batch size)."""
    return geometry_int(op, name, value, 1)


def int_tuple(op, name, value, length, low, expected):
    """``length`` ints >= ``low`` from the sequence ``value``; ``expected`` says what that is in the message."""
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{op}: expected {name} to be {expected}, got {value!r}") from None
    if len(items) != length:
        raise ValueError(f"{op}: expected {name} to be {expected}, got {value!r}")
    return tuple(geometry_int(op, name, v, low, value) for v in items)


def int_pair(op, name, value, low, one_for_both=False):
    """Two ints >= ``low`` (1 or 0); with ``one_for_both`` an int stands for both (the user-facing form)."""
    if one_for_both and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    kind = "positive" if low == 1 else "non-negative"
    expected = f"a {kind} int or a pair of them" if one_for_both else f"two {kind} integers"
    return int_tuple(op, name, value, 2, low, expected)


def positive_pair(op, name, value, one_for_both=False):
    """Two positive ints (strides, dilation, a kernel, pool or output size); with ``one_for_both`` an int
    stands for both (the user-facing form)."""
    return int_pair(op, name, value, 1, one_for_both)


def image_shape(op, name, value):
    """An (N, H, W, C) shape argument: four non-negative ints."""
    return int_tuple(op, name, value, 4, 0, "(N, H, W, C) ints")


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


def window_output(op, x_shape, kernel, strides, pads, dilation=(1, 1)):
    """``(OH, OW)`` of a 2-D sliding window over an (N, H, W, C) shape; the input's and the output's height and
    width must be positive."""
    out = []
    for i, axis in enumerate(("height", "width")):
        if x_shape[1 + i] < 1:
            raise ValueError(f"{op}: expected a positive input {axis}, got shape {tuple(x_shape)}")
        out.append(output_size(op, x_shape[1 + i], kernel[i], strides[i], sum(pads[i]), dilation[i], axis))
    return tuple(out)


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


def one_of(op, name, value, choices):
    """``value`` must be one of ``choices`` (a mode, a margin); returned as it is."""
    if value not in choices:
        raise ValueError(f"{op}: unknown {name} {value!r}; valid choices: {', '.join(choices)}")
    return value


def scalar_in(op, name, value, low, high, low_open=False):
    """A real number in [low, high], or (low, high] when ``low_open``; NaN is rejected."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: expected {name} to be a real number, got {value!r}") from None
    if not ((v > low if low_open else v >= low) and v <= high):
        raise ValueError(f"{op}: expected {name} in {'(' if low_open else '['}{low}, {high}], got {value!r}")
    return v
