"""One ONNX conversion per nnkit layer class, for ``export_onnx``.

Every converter is ``convert(b, layer, xs, in_shapes, out_shape) -> name(s)``:
``b`` is the graph builder of ``onnx_export``, ``xs`` the ONNX value names of
the layer's inputs and the shapes are nnkit's (channels-last).  Inside the
graph every 4-D value is NCHW (ONNX's layout for Conv and pooling); all other
values keep nnkit's layout.  A layer whose meaning depends on the axis order
(Flatten, Reshape, Dense on a feature map) asks ``b.nhwc`` for the
channels-last view first.
"""
import numpy as np

from nnkit import activations as nnact

# nnkit's NHWC axis -> the same axis of the NCHW value inside the graph
NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


def graph_axis(axis, rank):
    """Where nnkit's ``axis`` of a rank-``rank`` value lives inside the graph."""
    axis %= rank
    return NHWC_TO_NCHW_AXIS[axis] if rank == 4 else axis


def same_pads(size, kernel, stride, dilation, who):
    """Keras's 'same' padding of one spatial axis as (before, after): the odd pixel goes at the end."""
    span = (kernel - 1) * dilation + 1
    if stride == 1:
        total = span - 1
    elif size is None:
        raise who.error(f"padding='same' with stride {stride} needs a known input size to place the padding "
                        f"(the input has an unknown spatial size)")
    else:
        total = max((-(-size // stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def spatial_pads(layer, in_shape, kernel, strides, dilation, who):
    """ONNX ``pads`` [top, left, bottom, right] for ``layer.padding``."""
    if layer.padding == "valid":
        return [0, 0, 0, 0]
    (top, bottom), (left, right) = (same_pads(n, k, s, d, who) for n, k, s, d in
                                    zip(in_shape[1:3], kernel, strides, dilation))
    return [top, left, bottom, right]


# -- activations ------------------------------------------------------------------------------------

def _gelu(b, x):
    if b.opset >= 20:
        return b.add("Gelu", [x])
    # x * Phi(x) = x * 0.5 * (1 + erf(x / sqrt 2))
    erf = b.add("Erf", [b.add("Mul", [x, b.scalar(1 / np.sqrt(2.0))])])
    half = b.add("Mul", [x, b.scalar(0.5)])
    return b.add("Mul", [half, b.add("Add", [erf, b.scalar(1.0)])])


def _softmax(op):
    def emit(b, x, rank):
        return b.add(op, [x], axis=graph_axis(-1, rank))
    return emit


def _unary(op, **attrs):
    return lambda b, x, rank: b.add(op, [x], **attrs)


ACTIVATIONS = {
    nnact.linear: lambda b, x, rank: x,
    nnact.relu: _unary("Relu"),
    nnact.relu6: lambda b, x, rank: b.add("Clip", [x, b.scalar(0.0), b.scalar(6.0)]),
    nnact.leaky_relu: _unary("LeakyRelu", alpha=0.01),
    nnact.elu: _unary("Elu", alpha=1.0),
    nnact.selu: _unary("Selu", alpha=1.6732632423543772, gamma=1.0507009873554805),
    nnact.gelu: lambda b, x, rank: _gelu(b, x),
    nnact.sigmoid: _unary("Sigmoid"),
    nnact.hard_sigmoid: _unary("HardSigmoid", alpha=1 / 6, beta=0.5),
    nnact.tanh: _unary("Tanh"),
    nnact.softmax: _softmax("Softmax"),
    nnact.log_softmax: _softmax("LogSoftmax"),
    nnact.softplus: _unary("Softplus"),
    nnact.softsign: _unary("Softsign"),
    nnact.silu: lambda b, x, rank: b.add("Mul", [x, b.add("Sigmoid", [x])]),
    nnact.exponential: _unary("Exp"),
}


def activation(b, fn, x, rank):
    emit = ACTIVATIONS.get(fn)
    if emit is None:
        name = getattr(fn, "__name__", repr(fn))
        raise b.error(f"activation {name!r} has no ONNX conversion; built-in activations export: "
                      f"{', '.join(sorted(nnact.serialize(f) for f in ACTIVATIONS))}")
    return emit(b, x, rank)


# -- layers ------------------------------------------------------------------------------------------

def _dense(b, layer, xs, in_shapes, out_shape):
    x, rank = xs[0], len(in_shapes[0])
    kernel = b.weight(layer.kernel)
    bias = b.weight(layer.bias) if layer.use_bias else None
    if rank == 2:
        y = b.add("Gemm", [x, kernel] + ([bias] if bias else []))
    else:  # Dense acts on the last (channels) axis: MatMul on the channels-last view
        y = b.add("MatMul", [b.nhwc(x, rank), kernel])
        y = b.add("Add", [y, bias]) if bias else y
        y = b.nchw(y, rank)
    return activation(b, layer.activation, y, rank)


def _oihw(kernel):
    return kernel.transpose(3, 2, 0, 1)


def _depthwise_oihw(kernel):
    kh, kw, c, m = kernel.shape  # output channel c * m + j is channel c's j-th filter, as Keras
    return kernel.reshape(kh, kw, 1, c * m).transpose(3, 2, 0, 1)


def _conv_node(b, layer, x, kernel, bias, group, strides, pads):
    return b.add("Conv", [x, kernel] + ([bias] if bias else []), kernel_shape=list(layer.kernel_size),
                 strides=list(strides), dilations=list(layer.dilation_rate), pads=pads, group=group)


def _conv2d(b, layer, xs, in_shapes, out_shape):
    pads = spatial_pads(layer, in_shapes[0], layer.kernel_size, layer.strides, layer.dilation_rate, b)
    y = _conv_node(b, layer, xs[0], b.weight(layer.kernel, _oihw),
                   b.weight(layer.bias) if layer.use_bias else None, layer.groups, layer.strides, pads)
    return activation(b, layer.activation, y, 4)


def _depthwise2d(b, layer, xs, in_shapes, out_shape):
    pads = spatial_pads(layer, in_shapes[0], layer.kernel_size, layer.strides, layer.dilation_rate, b)
    y = _conv_node(b, layer, xs[0], b.weight(layer.depthwise_kernel, _depthwise_oihw),
                   b.weight(layer.bias) if layer.use_bias else None, in_shapes[0][-1], layer.strides, pads)
    return activation(b, layer.activation, y, 4)


def _separable2d(b, layer, xs, in_shapes, out_shape):
    pads = spatial_pads(layer, in_shapes[0], layer.kernel_size, layer.strides, layer.dilation_rate, b)
    depthwise = _conv_node(b, layer, xs[0], b.weight(layer.depthwise_kernel, _depthwise_oihw),
                           None, in_shapes[0][-1], layer.strides, pads)
    pointwise = b.add("Conv", [depthwise, b.weight(layer.pointwise_kernel, _oihw)] +
                      ([b.weight(layer.bias)] if layer.use_bias else []), kernel_shape=[1, 1])
    return activation(b, layer.activation, pointwise, 4)


def _batch_norm(b, layer, xs, in_shapes, out_shape):
    x, rank = xs[0], len(in_shapes[0])
    n = in_shapes[0][-1]
    gamma = layer.gamma.data if layer.scale else np.ones(n, np.float32)
    beta = layer.beta.data if layer.center else np.zeros(n, np.float32)
    mean, var = layer.moving_mean.data, layer.moving_variance.data
    if rank in (2, 4):  # ONNX normalises axis 1: the channels of (N, C) and of NCHW
        return b.add("BatchNormalization", [x, b.const(gamma), b.const(beta), b.const(mean), b.const(var)],
                     epsilon=layer.epsilon)
    # other ranks: the inference form folded to x * scale + shift over the last axis
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + layer.epsilon)
    shift = beta - mean * scale
    return b.add("Add", [b.add("Mul", [x, b.const(scale)]), b.const(shift)])


def _pool(op, **extra):
    def convert(b, layer, xs, in_shapes, out_shape):
        pads = spatial_pads(layer, in_shapes[0], layer.pool_size, layer.strides, (1, 1), b)
        return b.add(op, [xs[0]], kernel_shape=list(layer.pool_size), strides=list(layer.strides), pads=pads,
                     **extra)
    return convert


def _global_pool(op):
    def convert(b, layer, xs, in_shapes, out_shape):
        y = b.add(op, [xs[0]])  # (N, C, 1, 1): nnkit's keepdims (N, 1, 1, C) inside the graph
        return y if layer.keepdims else b.add("Flatten", [y], axis=1)
    return convert


def _flatten(b, layer, xs, in_shapes, out_shape):
    rank = len(in_shapes[0])
    return b.add("Flatten", [b.nhwc(xs[0], rank)], axis=1)  # Keras's (H, W, C) feature order


def _reshape(b, layer, xs, in_shapes, out_shape):
    shape = b.const(np.array((0,) + tuple(layer.target_shape), np.int64))  # 0: keep the batch size
    y = b.add("Reshape", [b.nhwc(xs[0], len(in_shapes[0])), shape])
    return b.nchw(y, len(out_shape))


def _zero_padding(b, layer, xs, in_shapes, out_shape):
    (top, bottom), (left, right) = layer.padding
    return b.add("Pad", [xs[0], b.const(np.array([0, 0, top, left, 0, 0, bottom, right], np.int64))])


def _identity(b, layer, xs, in_shapes, out_shape):
    return b.add("Identity", [xs[0]])


def _activation_layer(b, layer, xs, in_shapes, out_shape):
    return activation(b, layer.activation, xs[0], len(in_shapes[0]))


def _relu_layer(b, layer, xs, in_shapes, out_shape):
    x = xs[0]
    if layer.threshold:
        t = b.scalar(layer.threshold)
        below = b.add("Mul", [b.add("Sub", [x, t]), b.scalar(layer.negative_slope)])
        y = b.add("Where", [b.add("GreaterOrEqual", [x, t]), x, below])
    elif layer.negative_slope:
        y = b.add("LeakyRelu", [x], alpha=layer.negative_slope)
    else:
        y = b.add("Relu", [x])
    return y if layer.max_value is None else b.add("Min", [y, b.scalar(layer.max_value)])


def _relu6(b, layer, xs, in_shapes, out_shape):
    return b.add("Clip", [xs[0], b.scalar(0.0), b.scalar(6.0)])


def _leaky_relu(b, layer, xs, in_shapes, out_shape):
    return b.add("LeakyRelu", [xs[0]], alpha=layer.negative_slope)


def _elu(b, layer, xs, in_shapes, out_shape):
    return b.add("Elu", [xs[0]], alpha=layer.alpha)


def _softmax_layer(b, layer, xs, in_shapes, out_shape):
    return b.add("Softmax", [xs[0]], axis=graph_axis(layer.axis, len(in_shapes[0])))


def _merge(emit):
    """Elementwise merges broadcast as Keras does on the channels-last views when ranks differ."""
    def convert(b, layer, xs, in_shapes, out_shape):
        ranks = {len(s) for s in in_shapes}
        if len(ranks) == 1:
            return emit(b, xs)
        y = emit(b, [b.nhwc(x, len(s)) for x, s in zip(xs, in_shapes)])
        return b.nchw(y, len(out_shape))
    return convert


def _chain(op):
    def emit(b, xs):
        y = xs[0]
        for x in xs[1:]:
            y = b.add(op, [y, x])
        return y
    return emit


def _variadic(op):
    return lambda b, xs: b.add(op, list(xs))


def _concatenate(b, layer, xs, in_shapes, out_shape):
    return b.add("Concat", list(xs), axis=graph_axis(layer.axis, len(out_shape)))


CONVERTERS = {
    "Dense": _dense,
    "Conv2D": _conv2d,
    "DepthwiseConv2D": _depthwise2d,
    "SeparableConv2D": _separable2d,
    "BatchNormalization": _batch_norm,
    "MaxPooling2D": _pool("MaxPool"),
    "AveragePooling2D": _pool("AveragePool", count_include_pad=0),  # Keras's 'same' average excludes padding
    "GlobalAveragePooling2D": _global_pool("GlobalAveragePool"),
    "GlobalMaxPooling2D": _global_pool("GlobalMaxPool"),
    "Flatten": _flatten,
    "Reshape": _reshape,
    "ZeroPadding2D": _zero_padding,
    "Dropout": _identity,
    "Activation": _activation_layer,
    "ReLU": _relu_layer,
    "ReLU6": _relu6,
    "LeakyReLU": _leaky_relu,
    "ELU": _elu,
    "Softmax": _softmax_layer,
    "Add": _merge(_chain("Add")),
    "Subtract": _merge(_chain("Sub")),
    "Multiply": _merge(_chain("Mul")),
    "Average": _merge(_variadic("Mean")),
    "Maximum": _merge(_variadic("Max")),
    "Minimum": _merge(_variadic("Min")),
    "Concatenate": _concatenate,
}
