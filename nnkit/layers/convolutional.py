"""Conv2D, DepthwiseConv2D and SeparableConv2D (channels-last, Keras HWIO kernels)."""

from nnkit import activations as nnactivations
from nnkit import functional as F
from nnkit import initializers as nninitializers
from nnkit import ops
from nnkit.layers.arguments import positive_int, positive_pair
from nnkit.layers.base import Layer
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register
from nnkit.layers.shapes import conv_output_length, format_shape

PADDINGS = ("valid", "same")


def _padding(layer, padding):
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in PADDINGS:
        raise layer._error(f"unknown padding {padding!r}; valid choices: {', '.join(PADDINGS)}")
    return mode


def _data_format(layer, data_format):
    if data_format not in (None, "channels_last"):
        raise layer._error(f"only data_format='channels_last' (batch, height, width, channels) is supported, "
                           f"got {data_format!r}")


class _Conv(Layer):
    """Geometry and output-shape logic shared by the 2-D convolutions."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1), activation=None,
                 use_bias=True, bias_initializer="zeros", data_format=None, **kwargs):
        super().__init__(**kwargs)
        _data_format(self, data_format)
        self.kernel_size = positive_pair(self, "kernel_size", kernel_size)
        self.strides = positive_pair(self, "strides", strides)
        self.padding = _padding(self, padding)
        self.dilation_rate = positive_pair(self, "dilation_rate", dilation_rate)
        self.activation = self._activation(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = self._initializer(bias_initializer, "bias_initializer")
        self.input_spec = InputSpec(ndim=4)

    def _channels(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise self._error(f"expected a 4-D channels-last input (batch, height, width, channels) with a "
                              f"known channel count, got {format_shape(input_shape)}")
        self._check_spatial(input_shape)
        return input_shape[-1]

    def _spatial(self, input_shape):
        return tuple(conv_output_length(n, k, self.padding, s, d) for n, k, s, d in
                     zip(input_shape[1:3], self.kernel_size, self.strides, self.dilation_rate))

    def _check_spatial(self, input_shape):
        if any(v is not None and v < 1 for v in self._spatial(input_shape)):
            span = tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))
            raise self._error(f"input {format_shape(input_shape)} is smaller than the {span[0]}x{span[1]} "
                              f"(dilated) kernel with padding='valid': the output would be empty")

    def _out_channels(self, input_shape):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        self._check_spatial(input_shape)
        return (input_shape[0],) + self._spatial(input_shape) + (self._out_channels(input_shape),)

    def _conv(self, x, kernel, bias=None, groups=1, strides=None, padding=None, activation=None):
        return F.conv2d(x, kernel, bias, strides=strides or self.strides, padding=padding or self.padding,
                        dilation=self.dilation_rate, groups=groups, activation=activation)

    def get_config(self):
        return {**super().get_config(), "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "dilation_rate": list(self.dilation_rate),
                "activation": nnactivations.serialize(self.activation), "use_bias": self.use_bias,
                "bias_initializer": nninitializers.serialize(self.bias_initializer)}


@register
class Conv2D(_Conv):
    """2-D convolution: kernel ``(kh, kw, in_channels // groups, filters)``, bias ``(filters,)``."""

    penalized_weights = {"kernel": "kernel", "bias": "bias"}

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias, bias_initializer,
                         **kwargs)
        filters, groups = positive_int(self, "filters", filters), positive_int(self, "groups", groups)
        if filters % groups:
            raise self._error(f"filters ({filters}) must be divisible by groups ({groups})")
        self.filters, self.groups = int(filters), int(groups)
        self.kernel_initializer = self._initializer(kernel_initializer, "kernel_initializer")

    def build(self, input_shape):
        channels = self._channels(input_shape)
        if channels % self.groups:
            raise self._error(f"input channels ({channels}, input {format_shape(input_shape)}) must be "
                              f"divisible by groups ({self.groups})")
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels // self.groups, self.filters),
                                      self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None
        self.input_spec = InputSpec(ndim=4, axes={-1: channels})

    def call(self, inputs):
        fused = nnactivations.fusable(self.activation)
        y = self._conv(inputs, self.kernel, self.bias, groups=self.groups, activation=fused)
        return y if fused else self.activation(y)

    def _out_channels(self, input_shape):
        return self.filters

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "groups": self.groups,
                "kernel_initializer": nninitializers.serialize(self.kernel_initializer)}


def _depthwise_as_grouped(kernel):
    """Keras's (kh, kw, C, m) depthwise kernel as a grouped (kh, kw, 1, C*m) one;
    output channel ``c * m + j`` is input channel ``c``'s ``j``-th filter, as Keras."""
    kh, kw, c, m = kernel.shape
    return ops.reshape(kernel, (kh, kw, 1, c * m))


@register
class DepthwiseConv2D(_Conv):
    """Each input channel convolved with its own ``depth_multiplier`` filters.

    depthwise_kernel: ``(kh, kw, in_channels, depth_multiplier)`` (as Keras);
    output channels: ``in_channels * depth_multiplier``.
    """

    penalized_weights = {"depthwise": "depthwise_kernel", "bias": "bias"}

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, dilation_rate=(1, 1),
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias, bias_initializer,
                         **kwargs)
        self.depth_multiplier = positive_int(self, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = self._initializer(depthwise_initializer, "depthwise_initializer")

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (channels, self.depth_multiplier), self.depthwise_initializer)
        self.bias = self.add_weight("bias", (channels * self.depth_multiplier,), self.bias_initializer) \
            if self.use_bias else None
        self.input_spec = InputSpec(ndim=4, axes={-1: channels})

    def call(self, inputs):
        kernel = _depthwise_as_grouped(self.depthwise_kernel)
        return self.activation(self._conv(inputs, kernel, self.bias, groups=inputs.shape[-1]))

    def _out_channels(self, input_shape):
        c = input_shape[-1]
        return None if c is None else c * self.depth_multiplier

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": nninitializers.serialize(self.depthwise_initializer)}


@register
class SeparableConv2D(_Conv):
    """A depthwise convolution (with the strides and dilation) followed by a
    1x1 pointwise convolution to ``filters`` channels, then bias and activation.

    depthwise_kernel ``(kh, kw, C, depth_multiplier)``, pointwise_kernel
    ``(1, 1, C * depth_multiplier, filters)``, bias ``(filters,)``.
    """

    penalized_weights = {"depthwise": "depthwise_kernel", "pointwise": "pointwise_kernel", "bias": "bias"}

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias, bias_initializer,
                         **kwargs)
        self.filters = positive_int(self, "filters", filters)
        self.depth_multiplier = positive_int(self, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = self._initializer(depthwise_initializer, "depthwise_initializer")
        self.pointwise_initializer = self._initializer(pointwise_initializer, "pointwise_initializer")

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (channels, self.depth_multiplier), self.depthwise_initializer)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1, 1, channels * self.depth_multiplier, self.filters), self.pointwise_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None
        self.input_spec = InputSpec(ndim=4, axes={-1: channels})

    def call(self, inputs):
        depthwise = self._conv(inputs, _depthwise_as_grouped(self.depthwise_kernel), groups=inputs.shape[-1])
        return self.activation(self._conv(depthwise, self.pointwise_kernel, self.bias, strides=(1, 1),
                                          padding="valid"))

    def _out_channels(self, input_shape):
        return self.filters

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": nninitializers.serialize(self.depthwise_initializer),
                "pointwise_initializer": nninitializers.serialize(self.pointwise_initializer)}
