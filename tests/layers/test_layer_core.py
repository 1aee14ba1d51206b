"""Dense, Activation, Dropout, Flatten, Reshape, ZeroPadding2D."""
import numpy as np
import pytest

import nnkit
from layer_helper import check_layer
from nnkit import Tensor
from nnkit.layers import Activation, Dense, Dropout, Flatten, Reshape, ZeroPadding2D


@pytest.mark.parametrize("kwargs,input_shape,out,params", [
    (dict(units=3), (4,), (None, 3), 15),
    (dict(units=3, activation="tanh", use_bias=False), (4,), (None, 3), 12),
    (dict(units=2, activation="relu"), (3, 4), (None, 3, 2), 10),
])
def test_dense_contract(kwargs, input_shape, out, params):
    check_layer(Dense, kwargs, input_shape, out, params)


def test_dense_computes_x_kernel_plus_bias():
    layer = Dense(3, activation="relu", bias_initializer="ones")
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    y = layer(x).numpy()
    np.testing.assert_allclose(y, np.maximum(x @ layer.kernel.data + 1, 0), rtol=1e-6)
    assert layer.kernel.shape == (4, 3) and layer.kernel.name == "dense/kernel"


@pytest.mark.parametrize("activation", ["tanh", "softmax", "sigmoid", "elu", "selu", "gelu", "swish", "linear"])
def test_activation_contract(activation):
    check_layer(Activation, dict(activation=activation), (5,), (None, 5), 0)


def test_activation_accepts_callable():
    layer = Activation(nnkit.ops.square)
    assert np.allclose(layer(np.array([[2.0, -3.0]])).numpy(), [[4.0, 9.0]])


def test_dropout_contract_in_training_mode():
    check_layer(Dropout, dict(rate=0.5), (6,), (None, 6), 0, training=True, seed_each_call=True)


def test_dropout_identity_at_inference_and_scaled_in_training():
    layer = Dropout(0.25)
    x = np.ones((1000, 10), np.float32)
    assert np.array_equal(layer(x).numpy(), x)
    y = layer(x, training=True).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02


def test_dropout_own_seed_is_reproducible():
    a = Dropout(0.5, seed=3)(np.ones((4, 8)), training=True).numpy()
    b = Dropout(0.5, seed=3)(np.ones((4, 8)), training=True).numpy()
    assert np.array_equal(a, b)


def test_flatten_contract():
    check_layer(Flatten, {}, (3, 2, 2), (None, 12), 0)


def test_flatten_is_row_major_channels_last():
    x = np.arange(24, dtype=np.float32).reshape(2, 2, 3, 2)
    assert np.array_equal(Flatten()(x).numpy(), x.reshape(2, -1))


@pytest.mark.parametrize("target,out", [((-1, 2), (None, 6, 2)), ((2, 6), (None, 2, 6)), ((12,), (None, 12))])
def test_reshape_contract(target, out):
    check_layer(Reshape, dict(target_shape=target), (3, 4), out, 0)


@pytest.mark.parametrize("padding,out", [
    (1, (None, 5, 6, 2)), ((2, 0), (None, 7, 4, 2)), (((1, 2), (0, 1)), (None, 6, 5, 2)),
])
def test_zero_padding_contract(padding, out):
    check_layer(ZeroPadding2D, dict(padding=padding), (3, 4, 2), out, 0)


def test_zero_padding_values():
    x = np.ones((1, 2, 2, 1), np.float32)
    y = ZeroPadding2D(((1, 0), (0, 2)))(x).numpy()[0, :, :, 0]
    assert np.array_equal(y, [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]])


def test_tensor_in_tensor_out_and_gradients_reach_weights():
    layer = Dense(2)
    x = Tensor(np.ones((3, 4), np.float32), requires_grad=True)
    layer(x).sum().backward()
    assert layer.kernel.grad.shape == (4, 2) and layer.bias.grad.shape == (2,)
    assert np.allclose(layer.bias.grad, 3)
