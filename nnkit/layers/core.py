"""Dense, Activation and Dropout."""
import numpy as np

from nnkit import activations as nnactivations
from nnkit import functional as F
from nnkit import initializers as nninitializers
from nnkit import random as nnrandom
from nnkit.layers.arguments import positive_int
from nnkit.layers.base import Layer
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register


@register
class Dense(Layer):
    """``activation(x @ kernel + bias)`` over the last axis.

    kernel: ``(in_features, units)``; bias: ``(units,)``.
    """

    penalized_weights = {"kernel": "kernel", "bias": "bias"}
    _supports_masking = True  # passes masks on unchanged (Keras 3)

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(self, "units", units)
        self.activation = self._activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = self._initializer(kernel_initializer, "kernel_initializer")
        self.bias_initializer = self._initializer(bias_initializer, "bias_initializer")
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        features = input_shape[-1]
        if len(input_shape) < 2 or features is None:
            raise self._error(f"needs inputs (batch, ..., features) with a known feature size, "
                              f"got {input_shape}")
        self.kernel = self.add_weight("kernel", (features, self.units), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer) if self.use_bias else None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: features})

    def call(self, inputs):
        fused = nnactivations.fusable(self.activation)
        y = F.linear(inputs, self.kernel, self.bias, activation=fused)
        return y if fused else self.activation(y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": nnactivations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": nninitializers.serialize(self.kernel_initializer),
                "bias_initializer": nninitializers.serialize(self.bias_initializer)}


@register
class Activation(Layer):
    """Apply an activation function given by name or callable."""
    _supports_masking = True  # passes masks on unchanged (Keras 3)

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = self._activation(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "activation": nnactivations.serialize(self.activation)}


@register
class Dropout(Layer):
    """Zero a fraction ``rate`` of the inputs while training (inverted dropout).

    Draws from nnkit's seeded generator, or from its own when ``seed`` is given.
    """
    _supports_masking = True  # passes masks on unchanged (Keras 3)

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise self._error(f"rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def call(self, inputs, training=None):
        return F.dropout(inputs, self.rate, training=bool(training), rng=self._rng or nnrandom.get_rng())

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
