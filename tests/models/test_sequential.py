"""Sequential: editing, names, nesting, tracing, training flag, configs."""
import json

import numpy as np
import pytest

import nnkit
from nnkit import Input, Model, Sequential, Tensor
from nnkit.layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, ReLU, deserialize,
                          serialize)
from nnkit.models import model_from_config


def small_cnn():
    return Sequential([
        Conv2D(4, 3, padding="same", input_shape=(8, 8, 2)),
        BatchNormalization(),
        ReLU(),
        MaxPooling2D(),
        Flatten(),
        Dropout(0.5),
        Dense(3),
    ], name="cnn")


def test_add_pop_layers_get_layer():
    model = Sequential(name="stack")
    model.add(Dense(4, input_shape=(3,)))
    model.add(Dense(2, name="head"))
    assert [layer.name for layer in model.layers] == ["dense", "head"]
    assert model.get_layer("head") is model.layers[1] and model.get_layer(index=0) is model.layers[0]
    assert model.output_shape == (None, 2)
    popped = model.pop()
    assert popped.name == "head" and model.output_shape == (None, 4)
    model.add(Dense(5))
    assert model(np.zeros((2, 3))).shape == (2, 5)
    with pytest.raises(ValueError, match="Sequential 'stack': no layer named 'nope'; layers: 'dense', 'dense_1'"):
        model.get_layer("nope")
    with pytest.raises(TypeError, match="add\\(\\) expects a Layer, got int"):
        model.add(3)
    with pytest.raises(TypeError, match="no layers to pop"):
        Sequential().pop()


def test_auto_names_are_unique_and_meaningful():
    model = Sequential([Conv2D(2, 3, input_shape=(6, 6, 1)), Conv2D(2, 3), MaxPooling2D(), Flatten(), Dense(2)])
    assert [layer.name for layer in model.layers] == ["conv2d", "conv2d_1", "max_pooling2d", "flatten", "dense"]
    assert model.name == "sequential" and Sequential().name == "sequential_1"
    assert [w.name for w in model.weights] == ["conv2d/kernel", "conv2d/bias", "conv2d_1/kernel", "conv2d_1/bias",
                                               "dense/kernel", "dense/bias"]


def test_input_first_or_build_or_first_call_traces_the_model():
    a = Sequential([Input(shape=(4,)), Dense(2)])
    b = Sequential([Dense(2)])
    assert not b.built
    b.build((None, 4))
    c = Sequential([Dense(2)])
    c(np.zeros((3, 4)))
    for model in (a, b, c):
        assert model.built and model.output_shape == (None, 2) and model.count_params() == 10
        assert model.layers[0].output.shape == (None, 2)
    assert len(a.layers) == 1  # the Input is not a layer of the stack, as in Keras


def test_ndarray_and_tensor_inputs():
    model = small_cnn()
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 2))
    out = model(x)
    assert isinstance(out, Tensor) and out.dtype == np.float32 and out.shape == (2, 3)
    np.testing.assert_allclose(model(Tensor(x.astype(np.float32))).numpy(), out.numpy(), rtol=1e-6)


def test_training_flag_reaches_dropout_and_batchnorm():
    model = small_cnn()
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 2)).astype(np.float32)
    bn = model.get_layer("batch_normalization")
    a, b = model(x).numpy(), model(x).numpy()
    assert np.array_equal(a, b) and np.all(bn.moving_mean.data == 0)
    nnkit.set_seed(1)
    c = model(x, training=True).numpy()
    assert not np.allclose(a, c) and np.any(bn.moving_mean.data != 0)


def test_nested_sequential_blocks():
    block = Sequential([Conv2D(4, 3, padding="same"), BatchNormalization(), ReLU()], name="block")
    model = Sequential([Input(shape=(8, 8, 3)), block, MaxPooling2D(), Flatten(), Dense(2)], name="net")
    assert [layer.name for layer in model.layers] == ["block", "max_pooling2d", "flatten", "dense"]
    assert block.output_shape == (None, 8, 8, 4) and block.built
    assert model.count_params() == block.count_params() + 16 * 4 * 2 + 2
    assert [w.name for w in model.weights][:2] == ["conv2d/kernel", "conv2d/bias"]
    assert len(model.non_trainable_weights) == 2
    y = model(np.ones((2, 8, 8, 3)), training=True)
    y.sum().backward()
    assert block.layers[0].kernel.grad is not None
    # reusable: the same block inside another model shares its weights
    other = Sequential([Input(shape=(8, 8, 3)), block, Flatten()], name="other")
    assert other.weights[0] is model.weights[0]
    # savable as a unit: a block rebuilds from its own config
    clone = deserialize(json.loads(json.dumps(serialize(block))))
    assert isinstance(clone, Sequential) and [type(layer) for layer in clone.layers] == \
        [Conv2D, BatchNormalization, ReLU]
    assert clone.output_shape == (None, 8, 8, 4)


def test_feature_extraction_from_a_sequential():
    model = small_cnn()
    features = Model(model.input, model.get_layer("flatten").output)
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 2))
    assert features(x).shape == (2, 64)
    assert features.weights[0] is model.weights[0]


def test_config_round_trip_rebuilds_the_same_computation():
    block = Sequential([Dense(4, activation="relu"), Dropout(0.1)], name="block")
    model = Sequential([Dense(6, input_shape=(5,)), block, Dense(2, activation="softmax")], name="outer")
    config = json.loads(json.dumps(serialize(model)))
    assert config["class_name"] == "Sequential"
    assert config["config"]["layers"][1]["class_name"] == "Sequential"
    clone = model_from_config(config)
    assert [layer.name for layer in clone.layers] == ["dense_1", "block", "dense_2"]
    assert clone.count_params() == model.count_params()
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((3, 5))
    np.testing.assert_allclose(clone(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_dtype_float64_model():
    model = Sequential([Dense(3, input_shape=(2,)), ReLU()], dtype="float64")
    assert model(np.ones((1, 2))).dtype == np.float64 and model.weights[0].dtype == np.float64


def test_frozen_model_and_frozen_layer():
    model = small_cnn()
    model.get_layer("conv2d").trainable = False
    assert "conv2d/kernel" in [w.name for w in model.non_trainable_weights]
    assert sum(w.size for w in model.trainable_weights) == model.count_params() - 4 * 18 - 4 - 8
    model.trainable = False
    assert model.trainable_weights == [] and not any(w.requires_grad for w in model.weights)
    model.trainable = True
    assert model.get_layer("conv2d").kernel.requires_grad


def test_sequential_input_shape_is_checked():
    model = small_cnn()
    with pytest.raises(ValueError, match=r"Sequential 'cnn': incompatible input shape \(2, 9, 8, 2\): "
                                         r"expected size 8 on axis 1"):
        model(np.zeros((2, 9, 8, 2)))
