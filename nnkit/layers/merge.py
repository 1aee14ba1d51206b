"""Layers that merge a list of tensors: Add, Subtract, Multiply, Average,
Maximum, Minimum (elementwise, Keras's broadcasting rule) and Concatenate.

Masks, as Keras 3: the output of an elementwise merge is masked where every
input is (the OR of the inputs' masks, when all of them have one); Maximum,
Minimum and Multiply ignore an input's masked steps where another input has
a value, and Concatenate joins the masks along its axis.
"""
import functools

import numpy as np

from nnkit import ops
from nnkit.layers.base import Layer
from nnkit.layers.registry import register
from nnkit.layers.shapes import broadcast_shapes, format_shape, is_shape
from nnkit.tensor import Tensor, get_keras_mask, set_keras_mask


class _Merge(Layer):
    min_inputs, max_inputs = 2, None
    _supports_masking = True
    _passes_masks_only = True

    def _check_list(self, input_shape):
        if is_shape(input_shape) or not isinstance(input_shape, (list, tuple)):
            raise self._error(f"expects a list of inputs, got one input of shape {format_shape(input_shape)}")
        n = len(input_shape)
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            wanted = self.min_inputs if self.max_inputs == self.min_inputs else f"at least {self.min_inputs}"
            raise self._error(f"expects {wanted} inputs, got {n}: {format_shape(list(input_shape))}")

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        self.compute_output_shape([tuple(t.shape) for t in inputs])
        return self.merge(list(inputs))

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        try:
            return broadcast_shapes([tuple(s) for s in input_shape])
        except ValueError as e:
            raise self._error(f"cannot merge inputs of {e}") from None

    def merge(self, tensors):
        raise NotImplementedError

    def compute_mask(self, inputs, mask=None):
        """The OR of the inputs' masks when every input has one, else None (Keras 3)."""
        if mask is None or not isinstance(mask, (list, tuple)) or any(m is None for m in mask):
            return None
        return functools.reduce(np.logical_or, [np.asarray(m, bool) for m in mask])


def _feature_masks(tensors):
    """Each input's mask broadcast to its shape (None where it has none)."""
    out = []
    for t in tensors:
        m = get_keras_mask(t)
        out.append(None if m is None else np.broadcast_to(np.asarray(m, bool)[..., None], t.shape))
    return out


def _masked_extremum(op, tensors):
    """Keras 3's Maximum/Minimum with masks: a masked entry takes the other operand's value, and the output
    mask is the OR of the masks while every input has one."""
    masks = _feature_masks(tensors)
    out, out_mask = tensors[0], masks[0]
    for x, m in zip(tensors[1:], masks[1:]):
        if m is not None:
            x = ops.where(m, x, out)
        if out_mask is not None:
            out = ops.where(out_mask, out, x)
        out_mask = out_mask | m if (m is not None and out_mask is not None) else None
        out = op(out, x)
    if out_mask is not None:
        set_keras_mask(out, out_mask.any(axis=-1))
    return out


@register
class Add(_Merge):
    """Elementwise sum of the inputs (e.g. a residual connection)."""

    def merge(self, tensors):
        return functools.reduce(ops.add, tensors)


@register
class Subtract(_Merge):
    """``inputs[0] - inputs[1]``."""
    min_inputs = max_inputs = 2

    def merge(self, tensors):
        return ops.subtract(tensors[0], tensors[1])


@register
class Multiply(_Merge):
    """Elementwise product of the inputs."""

    def merge(self, tensors):
        masks = _feature_masks(tensors)
        if all(m is None for m in masks):
            return functools.reduce(ops.multiply, tensors)
        # Keras 3: a masked entry counts as 1; with every input masked, the output is 0 where all are masked
        factors = [x if m is None else ops.where(m, x, Tensor(np.ones((), x.dtype))) for x, m in zip(tensors, masks)]
        out = functools.reduce(ops.multiply, factors)
        if all(m is not None for m in masks):
            any_valid = functools.reduce(np.logical_or, masks)
            out = ops.where(any_valid, out, Tensor(np.zeros((), out.dtype)))
            set_keras_mask(out, any_valid.any(axis=-1))
        return out


@register
class Average(_Merge):
    """Elementwise mean of the inputs."""

    def merge(self, tensors):
        return functools.reduce(ops.add, tensors) * (1.0 / len(tensors))


@register
class Maximum(_Merge):
    """Elementwise maximum of the inputs."""

    def merge(self, tensors):
        return _masked_extremum(ops.maximum, tensors)


@register
class Minimum(_Merge):
    """Elementwise minimum of the inputs."""

    def merge(self, tensors):
        return _masked_extremum(ops.minimum, tensors)


@register
class Concatenate(_Merge):
    """Join the inputs along ``axis`` (default the last, channels); every other
    axis must agree."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        shapes = [tuple(s) for s in input_shape]
        rank = len(shapes[0])
        axis = self.axis if self.axis >= 0 else rank + self.axis
        listed = ", ".join(format_shape(s) for s in shapes)
        if any(len(s) != rank for s in shapes):
            raise self._error(f"inputs must have the same rank, got {listed}")
        if not 0 < axis < rank:
            raise self._error(f"axis {self.axis} is out of range (or the batch axis) for inputs {listed}")
        out = []
        for i in range(rank):
            sizes = [s[i] for s in shapes]
            if i == axis:
                out.append(None if None in sizes else sum(sizes))
                continue
            known = {v for v in sizes if v is not None}
            if len(known) > 1:
                raise self._error(f"inputs must agree on every axis but the concatenation axis {self.axis}, "
                                  f"got {listed} (axis {i} differs)")
            out.append(known.pop() if known else None)
        return tuple(out)

    def merge(self, tensors):
        return ops.concatenate(tensors, axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        """Keras 3: each input's mask (all True where it has none) joined along ``axis``, then any over the
        last axis."""
        if mask is None or not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        parts = []
        for x, m in zip(inputs, mask):
            if m is None:
                parts.append(np.ones(x.shape, bool))
            else:
                m = np.asarray(m, bool)
                parts.append(np.broadcast_to(m[..., None], x.shape) if m.ndim < x.ndim else m)
        return np.concatenate(parts, axis=self.axis).any(axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


# -- Keras's functional forms: ``add([a, b])`` is ``Add()([a, b])`` ------------------------------------------
def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)
