"""What ``nnkit train`` knows how to train: models, datasets and their defaults.

Models take 28x28x1 images and 10 classes:

- ``lenet5``: ``nnkit.models.lenet5()`` (61,706 parameters);
- ``vgg-small``: a small VGG-style network with batch normalisation and
  dropout — two blocks of two 3x3 convolutions (24 then 48 filters, each
  followed by batch norm and ReLU) with 2x2 max pooling and 25 % dropout,
  then a 128-unit dense layer with batch norm, 50 % dropout and the softmax
  (340k parameters); batch-norm momentum 0.9, so the running statistics
  settle within a few dozen steps.

Datasets: ``fashion-mnist-sample`` (the bundled 6,000/1,000 sample) and
``fashion-mnist`` (the full 60,000/10,000, see ``nnkit.datasets.fashion_mnist``).
Images are scaled to [0, 1] float32 with a channel axis.
"""
import numpy as np

from nnkit import datasets

__all__ = ["MODELS", "DATASETS", "build_model", "load_data", "small_vgg"]


def small_vgg(input_shape=(28, 28, 1), classes=10, widths=(24, 48), dense=128, name="vgg_small"):
    """The ``vgg-small`` network of the module docstring (a ``Sequential``); ``widths``: filters per block."""
    from nnkit.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from nnkit.models import Sequential

    layers = []
    for block, filters in enumerate(widths, start=1):
        for i in (1, 2):
            extra = {"input_shape": input_shape} if not layers else {}
            layers += [Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_conv{i}", **extra),
                       BatchNormalization(momentum=0.9, name=f"block{block}_bn{i}"),
                       Activation("relu", name=f"block{block}_relu{i}")]
        layers += [MaxPooling2D(2, name=f"block{block}_pool"), Dropout(0.25, name=f"block{block}_dropout")]
    layers += [Flatten(name="flatten"), Dense(dense, use_bias=False, name="fc"),
               BatchNormalization(momentum=0.9, name="fc_bn"), Activation("relu", name="fc_relu"),
               Dropout(0.5, name="fc_dropout"),
               Dense(classes, activation="softmax", name="predictions")]
    return Sequential(layers, name=name)


def _lenet5():
    from nnkit.models import lenet5
    return lenet5()


MODELS = {"lenet5": _lenet5, "vgg-small": small_vgg}
DATASETS = {"fashion-mnist-sample": lambda: datasets.fashion_mnist(sample=True),
            "fashion-mnist": lambda: datasets.fashion_mnist()}


def build_model(name):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    return MODELS[name]()


def _prepare(x, y):
    return (x.astype(np.float32) / np.float32(255))[..., None], y.astype(np.int64)


def load_data(name):
    """``(x_train, y_train), (x_test, y_test)`` ready for the models above."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    (x_train, y_train), (x_test, y_test) = DATASETS[name]()
    return _prepare(x_train, y_train), _prepare(x_test, y_test)
