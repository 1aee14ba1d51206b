"""UpSampling2D and Cropping2D: spatial size changes of channels-last images, without weights."""
import numpy as np

from nnkit import image, ops
from nnkit.layers.base import Layer
from nnkit.layers.arguments import positive_pair
from nnkit.layers.convolutional import _data_format
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register
from nnkit.layers.shapes import format_shape


@register
class UpSampling2D(Layer):
    """Repeat rows ``size[0]`` times and columns ``size[1]`` times (``'nearest'``),
    or resize bilinearly to that size (``'bilinear'``: half-pixel centres, as Keras)."""

    INTERPOLATIONS = ("nearest", "bilinear")

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        _data_format(self, data_format)
        self.size = positive_pair(self, "size", size)
        if interpolation not in self.INTERPOLATIONS:
            raise self._error(f"unknown or unsupported interpolation {interpolation!r}; valid choices: "
                              f"{', '.join(self.INTERPOLATIONS)}")
        self.interpolation = interpolation
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        n, h, w, c = inputs.shape
        sh, sw = self.size
        if self.interpolation == "bilinear":
            return image.resize(inputs, (h * sh, w * sw), "bilinear")
        # each pixel becomes an sh x sw block: a broadcast view reshaped, whose gradient sums the blocks
        x = ops.reshape(inputs, (n, h, 1, w, 1, c))
        x = x * np.ones((1, 1, sh, 1, sw, 1), inputs.dtype)
        return ops.reshape(x, (n, h * sh, w * sw, c))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.size[0], None if w is None else w * self.size[1], c)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}


def _cropping_pairs(layer, cropping):
    try:
        if isinstance(cropping, (int, np.integer)):
            pairs = ((int(cropping),) * 2,) * 2
        else:
            a, b = cropping
            if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
                pairs = ((int(a), int(a)), (int(b), int(b)))
            else:
                pairs = tuple(tuple(int(v) for v in p) for p in (a, b))
        ok = all(len(p) == 2 and min(p) >= 0 for p in pairs)
    except (TypeError, ValueError):
        ok = False
    if not ok or isinstance(cropping, bool):
        raise layer._error(f"cropping must be an int, (ch, cw) or ((top, bottom), (left, right)) of "
                           f"non-negative ints, got {cropping!r}")
    return pairs


@register
class Cropping2D(Layer):
    """Remove rows and columns at the borders.

    ``cropping``: an int (all sides), ``(ch, cw)`` (symmetric) or
    ``((top, bottom), (left, right))``.
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        _data_format(self, data_format)
        self.cropping = _cropping_pairs(self, cropping)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        self.compute_output_shape((None,) + inputs.shape[1:])
        (top, bottom), (left, right) = self.cropping
        h, w = inputs.shape[1:3]
        return ops.getitem(inputs, (slice(None), slice(top, h - bottom), slice(left, w - right)))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (top, bottom), (left, right) = self.cropping
        out_h = None if h is None else h - top - bottom
        out_w = None if w is None else w - left - right
        if (out_h is not None and out_h < 1) or (out_w is not None and out_w < 1):
            raise self._error(f"cropping {self.cropping} leaves nothing of input {format_shape(input_shape)}")
        return (n, out_h, out_w, c)

    def get_config(self):
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping]}
