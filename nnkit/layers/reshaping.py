"""Flatten, Reshape and ZeroPadding2D: shape changes without weights."""
import numpy as np

from nnkit import ops
from nnkit.layers.base import Layer
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register
from nnkit.layers.shapes import format_shape, num_elements


@register
class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...), in row-major (channels-last) order."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], num_elements(input_shape) if len(input_shape) > 1 else 1)


@register
class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (no batch axis; one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(int(v) for v in target_shape)
        if target_shape.count(-1) > 1 or any(v < 1 and v != -1 for v in target_shape):
            raise self._error(f"target_shape must be positive sizes with at most one -1, got {target_shape}")
        self.target_shape = target_shape

    def call(self, inputs):
        self._resolve((None,) + inputs.shape[1:])
        return ops.reshape(inputs, (inputs.shape[0],) + self.target_shape)

    def _resolve(self, input_shape):
        total = num_elements(input_shape)
        known = int(np.prod([v for v in self.target_shape if v != -1], dtype=np.int64))
        if total is None:
            return tuple(None if v == -1 else v for v in self.target_shape)
        if -1 in self.target_shape:
            if total % known:
                raise self._error(f"cannot reshape input {format_shape(input_shape)} ({total} values per "
                                  f"sample) into {self.target_shape}")
            return tuple(total // known if v == -1 else v for v in self.target_shape)
        if total != known:
            raise self._error(f"cannot reshape input {format_shape(input_shape)} ({total} values per sample) "
                              f"into {self.target_shape} ({known} values)")
        return self.target_shape

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(input_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


def _padding_pairs(padding):
    if isinstance(padding, (int, np.integer)):
        return ((int(padding),) * 2,) * 2
    a, b = padding
    if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
        return ((int(a), int(a)), (int(b), int(b)))
    return (tuple(int(v) for v in a), tuple(int(v) for v in b))


@register
class ZeroPadding2D(Layer):
    """Pad height and width with zeros.

    ``padding``: an int (all sides), ``(ph, pw)`` (symmetric) or
    ``((top, bottom), (left, right))``.
    """

    def __init__(self, padding=(1, 1), **kwargs):
        super().__init__(**kwargs)
        try:
            pads = _padding_pairs(padding)
            ok = len(pads) == 2 and all(len(p) == 2 and min(p) >= 0 for p in pads)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise self._error(f"padding must be an int, (ph, pw) or ((top, bottom), (left, right)) of "
                              f"non-negative ints, got {padding!r}")
        self.padding = pads
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        x = inputs
        for axis, before, after in ((1, top, bottom), (2, left, right)):
            parts = []
            for size in (before, None, after):
                if size is None:
                    parts.append(x)
                elif size:
                    shape = list(x.shape)
                    shape[axis] = size
                    parts.append(np.zeros(shape, x.dtype))
            x = ops.concatenate(parts, axis=axis) if len(parts) > 1 else x
        return x

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        n, h, w, c = input_shape
        return (n, None if h is None else h + top + bottom, None if w is None else w + left + right, c)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}
