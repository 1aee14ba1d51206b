"""The linear maps a rule explains, one per layer kind.

``stages(layer)`` gives a Dense or convolution layer as a list of
``(fn, params)``: ``fn(inputs, params) -> Tensor`` is the layer's affine
part (no activation) for a list of one input Tensor, ``params`` its
``{"kernel", "bias"}`` arrays (bias ``None`` when there is none).  A
SeparableConv2D is two stages (depthwise, then pointwise), so a rule applies
to each.  ``parameter_free(layer)`` gives ``fn`` for pooling and sums.
"""
from nnkit import functional as F
from nnkit.layers import (Add, Average, AveragePooling1D, AveragePooling2D, Conv1D, Conv2D, Dense, DepthwiseConv2D,
                          GlobalAveragePooling1D, GlobalAveragePooling2D, SeparableConv2D)
from nnkit.layers.convolutional import _depthwise_as_grouped

__all__ = ["LINEAR", "CONVOLUTIONS", "PARAMETER_FREE", "stages", "parameter_free"]

CONVOLUTIONS = (Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D)
LINEAR = CONVOLUTIONS + (Dense,)
PARAMETER_FREE = (Add, Average, AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D)


def _data(weight):
    return None if weight is None else weight.data


def stages(layer):
    if isinstance(layer, Dense):
        return [(lambda xs, p: F.linear(xs[0], p["kernel"], p["bias"]),
                 {"kernel": layer.kernel.data, "bias": _data(layer.bias)})]
    if isinstance(layer, SeparableConv2D):
        depthwise = {"kernel": _depthwise_as_grouped(layer.depthwise_kernel).data, "bias": None}
        pointwise = {"kernel": layer.pointwise_kernel.data, "bias": _data(layer.bias)}
        return [(lambda xs, p: layer._conv(xs[0], p["kernel"], groups=xs[0].shape[-1]), depthwise),
                (lambda xs, p: layer._conv(xs[0], p["kernel"], p["bias"], strides=(1, 1), padding="valid"),
                 pointwise)]
    if isinstance(layer, DepthwiseConv2D):
        params = {"kernel": _depthwise_as_grouped(layer.depthwise_kernel).data, "bias": _data(layer.bias)}
        return [(lambda xs, p: layer._conv(xs[0], p["kernel"], p["bias"], groups=xs[0].shape[-1]), params)]
    if isinstance(layer, Conv1D):
        return [(lambda xs, p: layer._conv(xs[0], p["kernel"], p["bias"]),
                 {"kernel": layer.kernel.data, "bias": _data(layer.bias)})]
    if isinstance(layer, Conv2D):
        return [(lambda xs, p: layer._conv(xs[0], p["kernel"], p["bias"], groups=layer.groups),
                 {"kernel": layer.kernel.data, "bias": _data(layer.bias)})]
    raise TypeError(f"stages: {type(layer).__name__} is not a Dense or convolution layer")


def parameter_free(layer):
    """``fn(inputs, params)`` of a pooling or sum layer (its own ``call``, without hooks)."""
    if isinstance(layer, (Add, Average)):
        return lambda xs, p: layer.call(list(xs))
    return lambda xs, p: layer.call(xs[0])
