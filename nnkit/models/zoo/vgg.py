"""VGG16, layer for layer as Keras's ``keras.applications.VGG16``."""
from nnkit.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from nnkit.models.functional import Functional
from nnkit.models.zoo.common import check_pooling, check_weights, global_pool

_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def vgg16(include_top=True, weights=None, input_shape=(224, 224, 3), pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg16"):
    """Thirteen 3x3 convolutions in five blocks, then 4096-4096-``classes``.

    138,357,544 parameters with the top at 224x224x3 and 1000 classes
    (14,714,688 without the top).
    """
    check_weights("vgg16", weights)
    check_pooling("vgg16", pooling)
    inputs = Input(shape=input_shape, name="input_layer")
    x = inputs
    for block, (filters, convs) in enumerate(_BLOCKS, start=1):
        for i in range(1, convs + 1):
            x = Conv2D(filters, 3, padding="same", activation="relu", name=f"block{block}_conv{i}")(x)
        x = MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    if include_top:
        x = Flatten(name="flatten")(x)
        x = Dense(4096, activation="relu", name="fc1")(x)
        x = Dense(4096, activation="relu", name="fc2")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = global_pool(x, pooling)
    return Functional(inputs, x, name=name)
