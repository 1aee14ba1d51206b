"""Activation layers: ReLU, ReLU6, LeakyReLU, ELU, Softmax."""
import numpy as np

from nnkit import ops
from nnkit.layers.base import Layer
from nnkit.layers.registry import register
from nnkit.tensor import Tensor


class _Elementwise(Layer):
    _supports_masking = True  # passes masks on unchanged (Keras 3)

    def compute_output_shape(self, input_shape):
        return input_shape


@register
class ReLU(_Elementwise):
    """``max(x, 0)``, with Keras's options: ``max_value`` caps the output,
    ``negative_slope`` leaks below ``threshold``.

    ``f(x) = max_value if x >= max_value; x if threshold <= x < max_value;
    negative_slope * (x - threshold) otherwise``.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise self._error(f"max_value must be >= 0, got {max_value}")
        if negative_slope < 0:
            raise self._error(f"negative_slope must be >= 0, got {negative_slope}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope, self.threshold = float(negative_slope), float(threshold)

    def call(self, inputs):
        if self.negative_slope == 0 and self.threshold == 0:
            if self.max_value == 6:
                return ops.relu6(inputs)
            y = ops.relu(inputs)
        else:
            y = ops.where(inputs.data >= self.threshold, inputs, (inputs - self.threshold) * self.negative_slope)
        return y if self.max_value is None else ops.clip(y, max=self.max_value)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


@register
class ReLU6(_Elementwise):
    """``min(max(x, 0), 6)``, as in MobileNet."""

    def call(self, inputs):
        return ops.relu6(inputs)


@register
class LeakyReLU(_Elementwise):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise (default slope 0.3, as Keras's layer;
    the function and the string ``"leaky_relu"`` default to 0.2, also as Keras; ``alpha=`` is accepted as
    Keras 2's name for the slope)."""

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope if alpha is None else alpha)
        if self.negative_slope < 0:
            raise self._error(f"negative_slope must be >= 0, got {self.negative_slope}")

    def call(self, inputs):
        return ops.leaky_relu(inputs, self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


@register
class ELU(_Elementwise):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs):
        return ops.elu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class Softmax(_Elementwise):
    """Softmax along ``axis`` (default the last).

    ``mask`` (True, or > 0.5, where an entry takes part), broadcastable to the input from the right as Keras 3
    requires: masked entries get no probability, and a fully masked row is all zeros.  A mask of the leading
    axes only, such as the (batch, steps) mask an ``Embedding(mask_zero=True)`` puts on a (batch, steps,
    classes) input, does not touch the softmax over the classes and is passed on (Keras 3 refuses it)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.softmax(inputs, self.axis)
        m = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        m = m if m.dtype == np.bool_ else m > 0.5
        fits = m.ndim <= inputs.ndim and all(a in (1, b) for a, b in zip(m.shape[::-1], inputs.shape[::-1]))
        if not fits:
            if m.shape == inputs.shape[:m.ndim]:
                return ops.softmax(inputs, self.axis)  # a step mask: it travels on, the softmax is unchanged
            raise self._error(f"the mask of shape {m.shape} must broadcast to the input of shape {inputs.shape}")
        scores = ops.where(m, inputs, Tensor(np.asarray(-1e9, inputs.dtype)))
        return ops.where(m, ops.softmax(scores, self.axis), Tensor(np.zeros((), inputs.dtype)))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
