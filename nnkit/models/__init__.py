"""Models: ``Model`` (the base, and functional ``Model(inputs, outputs)``),
``Sequential``, the summary, and the model zoo.

One network built three ways (each gives the same summary counts)::

    from nnkit import Input, Model, Sequential
    from nnkit.layers import Conv2D, Dense, Flatten, MaxPooling2D

    # 1. Sequential
    seq = Sequential([Input(shape=(28, 28, 1)), Conv2D(16, 3, padding="same", activation="relu"),
                      MaxPooling2D(), Flatten(), Dense(10)], name="digits")

    # 2. functional
    x = Input(shape=(28, 28, 1))
    y = Dense(10)(Flatten()(MaxPooling2D()(Conv2D(16, 3, padding="same", activation="relu")(x))))
    fun = Model(x, y, name="digits")

    # 3. subclassing
    class Digits(Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = Conv2D(16, 3, padding="same", activation="relu")
            self.pool, self.flat, self.head = MaxPooling2D(), Flatten(), Dense(10)

        def call(self, x, training=None):
            return self.head(self.flat(self.pool(self.conv(x))))

    sub = Digits(name="digits")
    sub.build((None, 28, 28, 1))

    seq.summary()   # conv2d 160, max_pooling2d 0, flatten 0, dense 31,370
                    # Total params: 31,530 (123.16 KB)
"""
from nnkit.layers.registry import deserialize
from nnkit.models.functional import Functional
from nnkit.models.model import Model
from nnkit.models.sequential import Sequential
from nnkit.models.zoo import lenet5, mobilenet_v2, resnet18, resnet20, vgg16


def model_from_config(config, custom_objects=None):
    """Rebuild a model (architecture only, fresh weights) from
    ``{"class_name": ..., "config": model.get_config()}``, as
    ``nnkit.layers.serialize(model)`` writes it; no eval, no pickle."""
    return deserialize(config, custom_objects)


__all__ = ["Model", "Sequential", "Functional", "model_from_config", "lenet5", "vgg16", "resnet20", "resnet18",
           "mobilenet_v2"]
