"""Max and average pooling, local and global (channels-last)."""
from nnkit import functional as F
from nnkit.layers.base import Layer
from nnkit.layers.arguments import positive_pair
from nnkit.layers.convolutional import _data_format, _padding
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register
from nnkit.layers.shapes import conv_output_length, format_shape


class _Pooling2D(Layer):
    pool = None  # the functional op

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        _data_format(self, data_format)
        self.pool_size = positive_pair(self, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else positive_pair(self, "strides", strides)
        self.padding = _padding(self, padding)
        self.input_spec = InputSpec(ndim=4)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        return type(self).pool(inputs, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:
            raise self._error(f"expected a 4-D channels-last input (batch, height, width, channels), "
                              f"got {format_shape(input_shape)}")
        n, h, w, c = input_shape
        oh, ow = (conv_output_length(v, p, self.padding, s) for v, p, s in
                  zip((h, w), self.pool_size, self.strides))
        if (oh is not None and oh < 1) or (ow is not None and ow < 1):
            raise self._error(f"input {format_shape(input_shape)} is smaller than the pool window "
                              f"{self.pool_size} with padding='valid'")
        return (n, oh, ow, c)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


@register
class MaxPooling2D(_Pooling2D):
    """Maximum over each ``pool_size`` window; ``strides`` defaults to ``pool_size``."""
    pool = staticmethod(F.max_pool2d)


@register
class AveragePooling2D(_Pooling2D):
    """Mean over each window (padding excluded from the count, as Keras)."""
    pool = staticmethod(F.avg_pool2d)


class GlobalPooling(Layer):
    """Base of the global poolings: ``pool`` over every axis between the batch and the channels of a
    rank-``rank`` channels-last input (the 2-D ones here, the 1-D ones in ``nnkit.layers.sequence``)."""

    pool = None
    rank, expects = 4, "a 4-D channels-last input (batch, height, width, channels)"

    def __init__(self, keepdims=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        _data_format(self, data_format)
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self.rank)

    def call(self, inputs):
        return type(self).pool(inputs, keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != self.rank:
            raise self._error(f"expected {self.expects}, got {format_shape(input_shape)}")
        if self.keepdims:
            return (input_shape[0],) + (1,) * (self.rank - 2) + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}



@register
class GlobalAveragePooling2D(GlobalPooling):
    """Mean over height and width: (batch, h, w, c) -> (batch, c)."""
    pool = staticmethod(F.global_avg_pool2d)


@register
class GlobalMaxPooling2D(GlobalPooling):
    """Maximum over height and width: (batch, h, w, c) -> (batch, c)."""
    pool = staticmethod(F.global_max_pool2d)
