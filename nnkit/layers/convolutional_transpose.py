"""Conv2DTranspose: the transposed ("deconvolution") layer, channels-last, Keras's kernel layout."""
import numpy as np

from nnkit import functional as F
from nnkit import initializers as nninitializers
from nnkit.layers.arguments import positive_int
from nnkit.layers.convolutional import _Conv
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register
from nnkit.layers.shapes import format_shape


def transpose_output_length(length, kernel, padding, stride, dilation=1, output_padding=None):
    """Keras's output size along one axis of a transposed convolution (None stays None)."""
    if length is None:
        return None
    span = (kernel - 1) * dilation + 1
    if output_padding is None:
        return length * stride + max(span - stride, 0) if padding == "valid" else length * stride
    pad = span // 2 if padding == "same" else 0
    return (length - 1) * stride + span - 2 * pad + output_padding


@register
class Conv2DTranspose(_Conv):
    """Transposed 2-D convolution: the gradient of a Conv2D with the same
    geometry, taken with respect to its input.

    kernel ``(kh, kw, filters, in_channels)`` and bias ``(filters,)``, as
    Keras.  ``output_padding`` (None, an int or a pair, each below its stride)
    picks among the output sizes that the strided convolution maps back to
    the input size.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", data_format=None, **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias, bias_initializer,
                         data_format, **kwargs)
        self.filters = positive_int(self, "filters", filters)
        self.kernel_initializer = self._initializer(kernel_initializer, "kernel_initializer")
        if output_padding is not None:
            pair = (output_padding,) * 2 if isinstance(output_padding, (int, np.integer)) else tuple(output_padding)
            if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < s
                                         for v, s in zip(pair, self.strides)):
                raise self._error(f"output_padding must be None or non-negative ints each below its stride "
                                  f"{self.strides}, got {output_padding!r}")
            output_padding = tuple(int(v) for v in pair)
        self.output_padding = output_padding

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, channels), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None
        self.input_spec = InputSpec(ndim=4, axes={-1: channels})

    def call(self, inputs):
        y = F.conv2d_transpose(inputs, self.kernel, self.bias, strides=self.strides, padding=self.padding,
                               output_padding=self.output_padding, dilation=self.dilation_rate)
        return self.activation(y)

    def _spatial(self, input_shape):
        pads = self.output_padding or (None, None)
        return tuple(transpose_output_length(n, k, self.padding, s, d, p) for n, k, s, d, p in
                     zip(input_shape[1:3], self.kernel_size, self.strides, self.dilation_rate, pads))

    def _check_spatial(self, input_shape):
        if any(v is not None and v < 1 for v in self._spatial(input_shape)):
            raise self._error(f"input {format_shape(input_shape)} gives an empty output")

    def _out_channels(self, input_shape):
        return self.filters

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                "kernel_initializer": nninitializers.serialize(self.kernel_initializer)}
