"""Shape conventions shared by layers and models.

A *shape* is a tuple that includes the batch axis first, ``None`` where the
size is unknown: a batch of 32x32 RGB images is ``(None, 32, 32, 3)``, as Keras
prints it.  ``build(input_shape)`` and ``compute_output_shape(input_shape)``
take and return such shapes (a list of them for layers with several inputs or
outputs).  Only user-facing ``shape=``/``input_shape=`` arguments (``Input``,
``Dense(..., input_shape=(4,))``) leave the batch axis out, as in Keras.
"""
import numbers

import numpy as np


def is_shape(value):
    """True for one shape (a tuple/list of ints and Nones), False for a list of shapes."""
    return isinstance(value, (tuple, list)) and all(
        v is None or (isinstance(v, numbers.Integral) and not isinstance(v, bool)) for v in value)


def as_shape(value):
    """``value`` as a tuple of ints and Nones."""
    return tuple(None if v is None else int(v) for v in value)


def map_shapes(fn, shapes):
    """Apply ``fn`` to one shape or to each shape of a list."""
    return fn(shapes) if is_shape(shapes) else [fn(s) for s in shapes]


def batchless(shape):
    """The batch axis replaced by ``None``: what a layer is built for."""
    return (None,) + as_shape(shape[1:])


def format_shape(shape):
    """``(None, 32, 32, 3)``; a list of shapes as ``[(None, 4), (None, 4)]``."""
    if shape is None:
        return "?"
    if is_shape(shape):
        return "(" + ", ".join("None" if v is None else str(v) for v in shape) + ("," if len(shape) == 1 else "") + ")"
    return "[" + ", ".join(format_shape(s) for s in shape) + "]"


def conv_output_length(length, kernel, padding, stride, dilation=1):
    """Output size along one axis of a convolution or pooling (None stays None)."""
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    span = (kernel - 1) * dilation + 1
    return (length - span) // stride + 1 if length >= span else 0


def num_elements(shape):
    """Product of the non-batch sizes, or None if one is unknown."""
    dims = shape[1:]
    return None if any(d is None for d in dims) else int(np.prod(dims, dtype=np.int64))


def broadcast_shapes(shapes):
    """Keras's elementwise-merge rule: sizes equal, or one of them 1 or None.

    Returns the result shape, or raises ValueError naming all shapes.
    """
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(-rank, 0):
        sizes = [s[axis] for s in shapes if len(s) >= -axis]
        known = {v for v in sizes if v is not None and v != 1}
        if len(known) > 1:
            raise ValueError(f"incompatible shapes {', '.join(format_shape(s) for s in shapes)} "
                             f"(axis {axis} has sizes {sorted(known)})")
        if known:
            out.append(known.pop())
        elif any(v is None for v in sizes):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)
