"""MobileNetV2 (Sandler et al. 2018), layer for layer as Keras's
``keras.applications.MobileNetV2``: inverted residual blocks of a 1x1
expansion, a 3x3 depthwise convolution and a linear 1x1 projection, with
ReLU6 and BatchNormalization (momentum 0.999) and no convolution biases."""
from nnkit.layers import (Add, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, GlobalAveragePooling2D, Input,
                          ReLU, ZeroPadding2D)
from nnkit.models.functional import Functional
from nnkit.models.zoo.common import check_pooling, check_weights, global_pool

# (expansion, filters, repeats, first stride) per stage
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
           (6, 320, 1, 1))


def make_divisible(value, divisor=8, min_value=None):
    """Round ``value`` to a multiple of ``divisor``, never more than 10% down."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _correct_pad(shape, kernel):
    """Keras's padding before a stride-2 'valid' convolution (``imagenet_utils.correct_pad``)."""
    adjust = (1, 1) if shape[1] is None else (1 - shape[1] % 2, 1 - shape[2] % 2)
    c = kernel // 2
    return ((c - adjust[0], c), (c - adjust[1], c))


def _bn(x, name):
    return BatchNormalization(epsilon=1e-3, momentum=0.999, name=name)(x)


def inverted_res_block(x, expansion, stride, alpha, filters, block_id):
    in_channels = x.shape[-1]
    pointwise_filters = make_divisible(int(filters * alpha), 8)
    inputs = x
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    if block_id:
        x = Conv2D(expansion * in_channels, 1, padding="same", use_bias=False, name=prefix + "expand")(x)
        x = _bn(x, prefix + "expand_BN")
        x = ReLU(6.0, name=prefix + "expand_relu")(x)
    if stride == 2:
        x = ZeroPadding2D(_correct_pad(x.shape, 3), name=prefix + "pad")(x)
    x = DepthwiseConv2D(3, strides=stride, use_bias=False, padding="same" if stride == 1 else "valid",
                        name=prefix + "depthwise")(x)
    x = _bn(x, prefix + "depthwise_BN")
    x = ReLU(6.0, name=prefix + "depthwise_relu")(x)
    x = Conv2D(pointwise_filters, 1, padding="same", use_bias=False, name=prefix + "project")(x)
    x = _bn(x, prefix + "project_BN")
    if in_channels == pointwise_filters and stride == 1:
        return Add(name=prefix + "add")([inputs, x])
    return x


def mobilenet_v2(input_shape=(224, 224, 3), alpha=1.0, include_top=True, weights=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    """MobileNetV2 with width multiplier ``alpha``.

    3,538,984 parameters (3,504,872 trainable) at 224x224x3, alpha 1.0 and
    1000 classes, as Keras.
    """
    check_weights("mobilenet_v2", weights)
    check_pooling("mobilenet_v2", pooling)
    if alpha <= 0:
        raise ValueError(f"mobilenet_v2: alpha must be positive, got {alpha}")
    inputs = Input(shape=input_shape, name="input_layer")
    x = Conv2D(make_divisible(32 * alpha, 8), 3, strides=2, padding="same", use_bias=False, name="Conv1")(inputs)
    x = _bn(x, "bn_Conv1")
    x = ReLU(6.0, name="Conv1_relu")(x)
    block_id = 0
    for expansion, filters, repeats, first_stride in _STAGES:
        for i in range(repeats):
            x = inverted_res_block(x, expansion, first_stride if i == 0 else 1, alpha, filters, block_id)
            block_id += 1
    last_filters = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = Conv2D(last_filters, 1, use_bias=False, name="Conv_1")(x)
    x = _bn(x, "Conv_1_bn")
    x = ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = GlobalAveragePooling2D(name="global_average_pooling2d")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = global_pool(x, pooling)
    return Functional(inputs, x, name=name or f"mobilenetv2_{alpha:.2f}_{input_shape[0]}")
