"""Layers over sequences (batch, steps, features): Conv1D, the 1-D poolings, padding, cropping and upsampling.

Each runs on the 2-D kernels: a sequence is an image one pixel high,
``(N, L, C) -> (N, 1, L, C)``, so Conv1D is a Conv2D with a ``(1, k)`` kernel
(no second convolution implementation) and inherits its algorithms, fused
ReLU and tests.
"""
import numpy as np

from nnkit import activations as nnactivations
from nnkit import functional as F
from nnkit import initializers as nninitializers
from nnkit import ops
from nnkit.layers.arguments import non_negative_pair, positive_int_1d
from nnkit.layers.base import Layer
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.pooling import GlobalPooling
from nnkit.layers.registry import register
from nnkit.layers.shapes import conv_output_length, format_shape
from nnkit.tensor import Tensor


def _sequence_shape(layer, input_shape):
    if len(input_shape) != 3:
        raise layer._error(f"expected a 3-D input (batch, steps, features), got {format_shape(input_shape)}")
    return input_shape


def _as_image(x):
    return ops.reshape(x, (x.shape[0], 1) + x.shape[1:])


def _as_sequence(y):
    return ops.reshape(y, (y.shape[0],) + y.shape[2:])


@register
class Conv1D(Layer):
    """1-D convolution over steps: kernel ``(kernel_size, features // groups, filters)``, bias ``(filters,)``.

    ``padding``: ``'valid'``, ``'same'`` (the odd step at the end, as Keras) or
    ``'causal'`` (``(kernel_size - 1) * dilation_rate`` zeros before the first step,
    so output ``t`` sees inputs up to ``t`` only).
    """

    penalized_weights = {"kernel": "kernel", "bias": "bias"}

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise self._error(f"only data_format='channels_last' (batch, steps, features) is supported, got "
                              f"{data_format!r}")
        self.filters = positive_int_1d(self, "filters", filters)
        self.kernel_size = positive_int_1d(self, "kernel_size", kernel_size)
        self.strides = positive_int_1d(self, "strides", strides)
        self.dilation_rate = positive_int_1d(self, "dilation_rate", dilation_rate)
        self.groups = positive_int_1d(self, "groups", groups)
        self.padding = padding.lower() if isinstance(padding, str) else padding
        if self.padding not in ("valid", "same", "causal"):
            raise self._error(f"unknown padding {padding!r}; valid choices: valid, same, causal")
        if self.filters % self.groups:
            raise self._error(f"filters ({self.filters}) must be divisible by groups ({self.groups})")
        self.activation = self._activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = self._initializer(kernel_initializer, "kernel_initializer")
        self.bias_initializer = self._initializer(bias_initializer, "bias_initializer")
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        channels = _sequence_shape(self, input_shape)[-1]
        if channels is None or channels % self.groups:
            raise self._error(f"the input's features ({channels}) must be known and divisible by groups "
                              f"({self.groups})")
        self.kernel = self.add_weight("kernel", (self.kernel_size, channels // self.groups, self.filters),
                                      self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None
        self.compute_output_shape(input_shape)

    def _pads(self, length):
        span = (self.kernel_size - 1) * self.dilation_rate
        if self.padding == "causal":
            return ((0, 0), (span, 0))
        if self.padding == "same":
            return ((0, 0), F.resolve_padding("conv1d", "same", (length,), (self.kernel_size,), (self.strides,),
                                              (self.dilation_rate,))[0])
        return ((0, 0), (0, 0))

    def call(self, inputs):
        fused = nnactivations.fusable(self.activation)
        y = self._conv(inputs, self.kernel, self.bias, activation=fused)
        return y if fused else self.activation(y)

    def _conv(self, x, kernel, bias=None, activation=None):
        """The convolution as a 2-D one over a (batch, 1, steps, features) image (no second implementation)."""
        kernel = ops.reshape(kernel, (1,) + tuple(kernel.shape))
        y = F.conv2d(_as_image(x), kernel, bias, strides=(1, self.strides), padding=self._pads(x.shape[1]),
                     dilation=(1, self.dilation_rate), groups=self.groups, activation=activation)
        return _as_sequence(y)

    def compute_output_shape(self, input_shape):
        n, length, _ = _sequence_shape(self, input_shape)
        padding = "same" if self.padding == "causal" else self.padding  # causal keeps ceil(L / stride) steps
        out = conv_output_length(length, self.kernel_size, padding, self.strides, self.dilation_rate)
        if out is not None and out < 1:
            raise self._error(f"input {format_shape(input_shape)} is shorter than the kernel span "
                              f"{(self.kernel_size - 1) * self.dilation_rate + 1} with padding='valid'")
        return (n, out, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
                "groups": self.groups, "activation": nnactivations.serialize(self.activation),
                "use_bias": self.use_bias, "kernel_initializer": nninitializers.serialize(self.kernel_initializer),
                "bias_initializer": nninitializers.serialize(self.bias_initializer)}


class _Pooling1D(Layer):
    pool = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise self._error(f"only data_format='channels_last' is supported, got {data_format!r}")
        self.pool_size = positive_int_1d(self, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else positive_int_1d(self, "strides", strides)
        self.padding = padding.lower() if isinstance(padding, str) else padding
        if self.padding not in ("valid", "same"):
            raise self._error(f"unknown padding {padding!r}; valid choices: valid, same")
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        return _as_sequence(type(self).pool(_as_image(inputs), (1, self.pool_size), (1, self.strides), self.padding))

    def compute_output_shape(self, input_shape):
        n, length, c = _sequence_shape(self, input_shape)
        out = conv_output_length(length, self.pool_size, self.padding, self.strides)
        if out is not None and out < 1:
            raise self._error(f"input {format_shape(input_shape)} is shorter than the pool window "
                              f"{self.pool_size} with padding='valid'")
        return (n, out, c)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


@register
class MaxPooling1D(_Pooling1D):
    """Maximum over each window of ``pool_size`` steps; ``strides`` defaults to ``pool_size``."""
    pool = staticmethod(F.max_pool2d)


@register
class AveragePooling1D(_Pooling1D):
    """Mean over each window (padding excluded from the count, as Keras)."""
    pool = staticmethod(F.avg_pool2d)


def _over_steps(reduce):
    def pool(x, keepdims):
        if x.shape[1] == 0:
            raise ValueError(f"global pooling over steps: the input has no steps (shape {x.shape})")
        return reduce(x, axis=1, keepdims=keepdims)
    return staticmethod(pool)


class _GlobalPooling1D(GlobalPooling):
    rank, expects = 3, "a 3-D input (batch, steps, features)"


@register
class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over the steps: (batch, steps, features) -> (batch, features).

    With a mask (``Embedding(mask_zero=True)``, ``Masking``), the mean of the unmasked steps only, and the
    output has no mask (Keras 3)."""
    pool = _over_steps(ops.mean)
    _supports_masking = True
    _passes_masks_only = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        m = np.asarray(mask, bool)
        if m.shape != inputs.shape[:2]:
            raise self._error(f"the mask must have shape (batch, steps) {inputs.shape[:2]}, got {m.shape}")
        weights = m[..., None].astype(inputs.dtype)
        total = ops.sum(inputs * Tensor(weights), axis=1, keepdims=self.keepdims)
        count = weights.sum(axis=1, keepdims=self.keepdims)
        return total / Tensor(count)  # a fully masked sample gives 0 / 0, as Keras

    def compute_mask(self, inputs, mask=None):
        return None


@register
class GlobalMaxPooling1D(_GlobalPooling1D):
    """Maximum over the steps: (batch, steps, features) -> (batch, features)."""
    pool = _over_steps(ops.max)


@register
class ZeroPadding1D(Layer):
    """Zeros before and after the steps: ``padding`` an int (both sides) or ``(before, after)``."""

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = non_negative_pair(self, "padding", padding)
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        before, after = self.padding
        n, _, c = inputs.shape
        parts = ([Tensor(np.zeros((n, before, c), inputs.dtype))] if before else []) + [inputs] + \
            ([Tensor(np.zeros((n, after, c), inputs.dtype))] if after else [])
        return ops.concatenate(parts, axis=1) if len(parts) > 1 else inputs

    def compute_output_shape(self, input_shape):
        n, length, c = _sequence_shape(self, input_shape)
        return (n, None if length is None else length + sum(self.padding), c)

    def get_config(self):
        return {**super().get_config(), "padding": list(self.padding)}


@register
class Cropping1D(Layer):
    """Drop steps at the start and the end: ``cropping`` an int (both sides) or ``(start, end)``."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = non_negative_pair(self, "cropping", cropping)
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        start, end = self.cropping
        self.compute_output_shape((None,) + inputs.shape[1:])
        return inputs[:, start:inputs.shape[1] - end]

    def compute_output_shape(self, input_shape):
        n, length, c = _sequence_shape(self, input_shape)
        if length is not None and length - sum(self.cropping) < 1:
            raise self._error(f"cropping {self.cropping} leaves no step of an input of {length} steps")
        return (n, None if length is None else length - sum(self.cropping), c)

    def get_config(self):
        return {**super().get_config(), "cropping": list(self.cropping)}


@register
class UpSampling1D(Layer):
    """Repeat each step ``size`` times: (batch, steps, features) -> (batch, steps * size, features)."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = positive_int_1d(self, "size", size)
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        n, length, c = inputs.shape
        stacked = ops.stack([inputs] * self.size, axis=2)  # (n, steps, size, c): each step's copies together
        return ops.reshape(stacked, (n, length * self.size, c))

    def compute_output_shape(self, input_shape):
        n, length, c = _sequence_shape(self, input_shape)
        return (n, None if length is None else length * self.size, c)

    def get_config(self):
        return {**super().get_config(), "size": self.size}
