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
import json

from nnkit.layers.registry import deserialize, serialize
from nnkit.models.functional import Functional
from nnkit.models.model import Model
from nnkit.models.sequential import Sequential
from nnkit.models.walk import LayerCall, layer_graph, record_calls
from nnkit.models.zoo import lenet5, mobilenet_v2, resnet18, resnet20, resnet50, vgg16


def model_from_config(config, custom_objects=None):
    """Rebuild a model (architecture only, fresh weights) from
    ``{"class_name": ..., "config": model.get_config()}``, as
    ``nnkit.layers.serialize(model)`` writes it; no eval, no pickle."""
    return deserialize(config, custom_objects)


def model_from_json(json_string, custom_objects=None):
    """The model ``model.to_json()`` describes (architecture only, fresh weights); no code is executed:
    classes are found in nnkit's registry or ``custom_objects``."""
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model_from_json: not a JSON model description: {e}") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("model_from_json: expected the JSON object model.to_json() writes, with a 'class_name'")
    return deserialize(config, custom_objects)


def clone_model(model, custom_objects=None):
    """A new model of the same architecture with freshly initialised weights (as Keras's ``clone_model``);
    built for the same input shape when the original is built.  Copy weights with
    ``clone.set_weights(model.get_weights())``."""
    clone = deserialize(serialize(model), custom_objects)
    shape = getattr(model, "_build_shape", None)
    if model.built and not clone.built and shape is not None:
        clone.build(shape)
    return clone


# nnkit.models.load_model is nnkit.io's, attached by the package (nnkit.io sits above the models).
__all__ = ["Model", "Sequential", "Functional", "model_from_config", "model_from_json", "clone_model",
           "layer_graph", "record_calls", "LayerCall", "load_model", "lenet5", "vgg16", "resnet20", "resnet18", "resnet50",
           "mobilenet_v2"]
