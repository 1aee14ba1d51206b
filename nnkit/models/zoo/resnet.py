"""ResNets with basic (two 3x3 convolutions) residual blocks, and Keras's ResNet50 with bottleneck blocks.

Shortcuts are the identity when the shape is unchanged and a projection
(1x1 convolution + BatchNormalization) when a stage halves the resolution and
widens the channels.  Convolutions followed by BatchNormalization have no bias.
"""
from nnkit.layers import (Activation, Add, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, Input,
                          MaxPooling2D, ZeroPadding2D)
from nnkit.models.functional import Functional
from nnkit.models.zoo.common import check_pooling, check_weights, global_pool


def _conv_bn(x, filters, kernel, strides, name, epsilon, explicit_pad):
    if strides > 1 and explicit_pad:
        # Symmetric padding as torchvision (TF's 'same' would pad bottom/right only).
        x = ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, kernel_initializer="he_normal",
               name=f"{name}_conv")(x)
    return BatchNormalization(epsilon=epsilon, name=f"{name}_bn")(x)


def basic_block(x, filters, strides, name, epsilon=1e-3, explicit_pad=False):
    """relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x))."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, strides, f"{name}_shortcut", epsilon, False)
    y = _conv_bn(x, filters, 3, strides, f"{name}_1", epsilon, explicit_pad)
    y = Activation("relu", name=f"{name}_1_relu")(y)
    y = _conv_bn(y, filters, 3, 1, f"{name}_2", epsilon, explicit_pad)
    y = Add(name=f"{name}_add")([y, shortcut])
    return Activation("relu", name=f"{name}_out")(y)


def _stages(x, widths, blocks, epsilon, explicit_pad):
    for stage, (filters, count) in enumerate(zip(widths, blocks), start=1):
        for block in range(1, count + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = basic_block(x, filters, strides, f"stage{stage}_block{block}", epsilon, explicit_pad)
    return x


def resnet20(input_shape=(32, 32, 3), classes=10, classifier_activation="softmax", name="resnet20"):
    """ResNet-20 for CIFAR-size images (He et al. 2016, section 4.2): a 3x3
    stem with 16 filters, three stages of three blocks with 16, 32, 64 filters,
    global average pooling and the classifier.  274,042 parameters
    (272,474 trainable) for the defaults."""
    inputs = Input(shape=input_shape, name="input_layer")
    x = _conv_bn(inputs, 16, 3, 1, "stem", 1e-3, False)
    x = Activation("relu", name="stem_relu")(x)
    x = _stages(x, (16, 32, 64), (3, 3, 3), 1e-3, False)
    x = GlobalAveragePooling2D(name="avg_pool")(x)
    x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    return Functional(inputs, x, name=name)


def resnet18(include_top=True, weights=None, input_shape=(224, 224, 3), pooling=None, classes=1000,
             classifier_activation="softmax", name="resnet18"):
    """ResNet-18 with torchvision's layout and padding: 7x7/2 stem, 3x3/2 max
    pool, four stages of two blocks (64, 128, 256, 512 filters).

    11,699,112 parameters at the defaults, of which 11,689,512 are trainable
    (torchvision's count; the rest are BatchNormalization moving statistics).
    """
    check_weights("resnet18", weights)
    check_pooling("resnet18", pooling)
    eps = 1e-5
    inputs = Input(shape=input_shape, name="input_layer")
    x = ZeroPadding2D(3, name="stem_pad")(inputs)
    x = Conv2D(64, 7, strides=2, use_bias=False, kernel_initializer="he_normal", name="stem_conv")(x)
    x = BatchNormalization(epsilon=eps, name="stem_bn")(x)
    x = Activation("relu", name="stem_relu")(x)
    x = ZeroPadding2D(1, name="pool_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool")(x)
    x = _stages(x, (64, 128, 256, 512), (2, 2, 2, 2), eps, True)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = global_pool(x, pooling)
    return Functional(inputs, x, name=name)


def bottleneck_block(x, filters, strides, name, shortcut_conv=True):
    """Keras's ResNet v1 block: 1x1 (with the stride) -> 3x3 -> 1x1 to ``4 filters``, each convolution with a
    bias and BatchNormalization (epsilon 1.001e-5), added to the shortcut (a 1x1 projection or the identity)."""
    eps = 1.001e-5
    shortcut = x
    if shortcut_conv:
        shortcut = Conv2D(4 * filters, 1, strides=strides, name=f"{name}_0_conv")(x)
        shortcut = BatchNormalization(epsilon=eps, name=f"{name}_0_bn")(shortcut)
    x = Conv2D(filters, 1, strides=strides, name=f"{name}_1_conv")(x)
    x = BatchNormalization(epsilon=eps, name=f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = BatchNormalization(epsilon=eps, name=f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = BatchNormalization(epsilon=eps, name=f"{name}_3_bn")(x)
    x = Add(name=f"{name}_add")([shortcut, x])
    return Activation("relu", name=f"{name}_out")(x)


def resnet50(include_top=True, weights=None, input_shape=(224, 224, 3), pooling=None, classes=1000,
             classifier_activation="softmax", name="resnet50"):
    """``keras.applications.ResNet50(weights=None)``'s layers, names and counts: 7x7/2 stem (with bias),
    3x3/2 max pool, stages conv2..conv5 of 3, 4, 6, 3 bottleneck blocks (64, 128, 256, 512 filters, the
    first block of conv3..conv5 with stride 2).  25,636,712 parameters at the defaults (25,583,592
    trainable; torchvision's resnet50 has no convolution biases: 25,557,032)."""
    check_weights("resnet50", weights)
    check_pooling("resnet50", pooling)
    inputs = Input(shape=input_shape, name="input_layer")
    x = ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = BatchNormalization(epsilon=1.001e-5, name="conv1_bn")(x)
    x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(1, name="pool1_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3)), start=2):
        for block in range(1, blocks + 1):
            strides = 2 if stage > 2 and block == 1 else 1
            x = bottleneck_block(x, filters, strides, f"conv{stage}_block{block}", shortcut_conv=block == 1)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = global_pool(x, pooling)
    return Functional(inputs, x, name=name)
