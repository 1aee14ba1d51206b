"""What ``nnkit train`` knows how to train: models, datasets and their defaults.

Every model is built for the data's image shape and class count: the zoo
(``lenet5``, ``resnet20``, ``resnet18``, ``resnet50``, ``mobilenet_v2``, ``vgg16``; a model
whose downsampling does not fit the images is refused with the reason) and:

- ``lenet5``: ``nnkit.models.lenet5()`` (61,706 parameters);
- ``vgg-small``: a small VGG-style network with batch normalisation and
  dropout — two blocks of two 3x3 convolutions (24 then 48 filters, each
  followed by batch norm and ReLU) with 2x2 max pooling and 25 % dropout,
  then a 128-unit dense layer with batch norm, 50 % dropout and the softmax
  (340k parameters); batch-norm momentum 0.9, so the running statistics
  settle within a few dozen steps.

Datasets: ``fashion-mnist-sample`` (the bundled 6,000/1,000 sample),
``fashion-mnist`` (the full 60,000/10,000, see ``nnkit.datasets.fashion_mnist``),
or a directory holding either the four MNIST-style IDX files
(``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``) or one
``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test`` (Keras's layout;
a path to such a file works too).  Integer images are scaled to [0, 1]
float32; grayscale images get a channel axis.
"""
import glob
import os

import numpy as np

from nnkit import datasets, models
from nnkit.datasets.idx import read_idx
from nnkit.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D

__all__ = ["MODELS", "DATASETS", "build_model", "load_data", "small_vgg"]


def small_vgg(input_shape=(28, 28, 1), classes=10, widths=(24, 48), dense=128, name="vgg_small"):
    """The ``vgg-small`` network of the module docstring (a ``Sequential``); ``widths``: filters per block."""
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
    return models.Sequential(layers, name=name)


def _zoo(builder, **fixed):
    def build(input_shape, classes):
        return getattr(models, builder)(input_shape=input_shape, classes=classes, **fixed)
    return build


MODELS = {"lenet5": _zoo("lenet5"), "vgg-small": lambda input_shape, classes: small_vgg(input_shape, classes),
          "resnet20": _zoo("resnet20"), "resnet18": _zoo("resnet18"), "resnet50": _zoo("resnet50"),
          "mobilenet_v2": _zoo("mobilenet_v2"), "vgg16": _zoo("vgg16")}
DATASETS = {"fashion-mnist-sample": lambda: datasets.fashion_mnist(sample=True),
            "fashion-mnist": lambda: datasets.fashion_mnist()}


def build_model(name, input_shape=(28, 28, 1), classes=10):
    """Model ``name`` for images of ``input_shape`` and ``classes`` classes (a clear error if it cannot take them)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    try:
        return MODELS[name](tuple(input_shape), int(classes))
    except ValueError as e:
        raise ValueError(f"model {name!r} cannot be built for images of shape {tuple(input_shape)} with {classes} "
                         f"classes: {e}") from None


def _prepare(x, y):
    x = np.asarray(x)
    x = x.astype(np.float32) / np.float32(255) if x.dtype.kind in "ui" else x.astype(np.float32)
    return (x[..., None] if x.ndim == 3 else x), np.asarray(y).astype(np.int64).reshape(len(y))


def _idx_file(directory, stem):
    found = [p for p in (os.path.join(directory, stem), os.path.join(directory, stem + ".gz")) if os.path.isfile(p)]
    if not found:
        raise FileNotFoundError(f"dataset directory {directory}: no {stem}[.gz]")
    return found[0]


def _from_path(path):
    """The four arrays of a directory of IDX files, or of a Keras-layout ``.npz`` (a file or the one in a directory)."""
    npz = [path] if os.path.isfile(path) else sorted(glob.glob(os.path.join(path, "*.npz")))
    if os.path.isdir(path) and not npz:
        stems = datasets.fashionmnist.FILES
        return tuple((read_idx(_idx_file(path, stems[f"x_{s}"][:-3])), read_idx(_idx_file(path, stems[f"y_{s}"][:-3])))
                     for s in ("train", "test"))
    if len(npz) != 1:
        raise ValueError(f"dataset {path}: expected one .npz file (x_train, y_train, x_test, y_test), found {len(npz)}")
    with np.load(npz[0], allow_pickle=False) as f:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f]
        if missing:
            raise ValueError(f"dataset {npz[0]}: missing arrays {missing}; expected x_train, y_train, x_test, y_test")
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def load_data(name):
    """``(x_train, y_train), (x_test, y_test)`` ready for the models above: a dataset name or a path."""
    if name in DATASETS:
        (x_train, y_train), (x_test, y_test) = DATASETS[name]()
    elif os.path.exists(name):
        (x_train, y_train), (x_test, y_test) = _from_path(name)
    else:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}, or a directory of IDX / "
                         f".npz files")
    return _prepare(x_train, y_train), _prepare(x_test, y_test)
