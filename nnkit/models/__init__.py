"""Models: ``Model`` (the base, and functional ``Model(inputs, outputs)``),
``Sequential``, the summary, and the model zoo."""
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
