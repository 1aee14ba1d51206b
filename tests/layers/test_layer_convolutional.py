"""Conv2D, DepthwiseConv2D, SeparableConv2D."""
import numpy as np
import pytest

from layer_helper import check_layer
from nnkit import functional as F
from nnkit.layers import Conv2D, DepthwiseConv2D, SeparableConv2D


@pytest.mark.parametrize("kwargs,input_shape,out,params", [
    (dict(filters=3, kernel_size=3), (5, 5, 2), (None, 3, 3, 3), 57),
    (dict(filters=3, kernel_size=3, padding="same", strides=2, activation="relu"), (5, 6, 2), (None, 3, 3, 3), 57),
    (dict(filters=2, kernel_size=(2, 3), dilation_rate=2, use_bias=False), (6, 7, 2), (None, 4, 3, 2), 24),
    (dict(filters=4, kernel_size=3, groups=2, padding="same"), (4, 4, 4), (None, 4, 4, 4), 76),
])
def test_conv2d_contract(kwargs, input_shape, out, params):
    check_layer(Conv2D, kwargs, input_shape, out, params)


def test_conv2d_keras_parameter_counts():
    """The issue's examples: 448 and 4,640, as Keras reports them."""
    first = Conv2D(16, 3, padding="same")
    first.build((None, 100, 100, 3))
    second = Conv2D(32, 3)
    second.build(first.compute_output_shape((None, 100, 100, 3)))
    assert first.count_params() == 448
    assert second.count_params() == 4640
    assert second.compute_output_shape((None, 100, 100, 16)) == (None, 98, 98, 32)


def test_conv2d_matches_functional_and_hwio_kernel():
    layer = Conv2D(4, 3, strides=2, padding="same", bias_initializer="ones")
    x = np.random.default_rng(0).standard_normal((2, 7, 7, 3)).astype(np.float32)
    y = layer(x)
    assert layer.kernel.shape == (3, 3, 3, 4)
    ref = F.conv2d(x, layer.kernel.data, layer.bias.data, strides=2, padding="same")
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-6)


@pytest.mark.parametrize("kwargs,input_shape,out,params", [
    (dict(kernel_size=3), (5, 5, 3), (None, 3, 3, 3), 30),
    (dict(kernel_size=3, depth_multiplier=2, padding="same", strides=2), (5, 5, 2), (None, 3, 3, 4), 40),
    (dict(kernel_size=2, use_bias=False, dilation_rate=2), (5, 5, 2), (None, 3, 3, 2), 8),
])
def test_depthwise_contract(kwargs, input_shape, out, params):
    check_layer(DepthwiseConv2D, kwargs, input_shape, out, params)


def test_depthwise_channel_order_is_keras():
    """Output channel c * m + j is input channel c convolved with filter j."""
    layer = DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=False)
    x = np.random.default_rng(1).standard_normal((1, 5, 5, 3)).astype(np.float32)
    y = layer(x).numpy()
    k = layer.depthwise_kernel.data
    assert k.shape == (3, 3, 3, 2)
    for c in range(3):
        for j in range(2):
            ref = F.conv2d(x[..., c:c + 1], k[:, :, c:c + 1, j:j + 1], padding="same").numpy()
            np.testing.assert_allclose(y[..., c * 2 + j], ref[..., 0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs,input_shape,out,params", [
    (dict(filters=4, kernel_size=3), (5, 5, 2), (None, 3, 3, 4), 18 + 8 + 4),
    (dict(filters=3, kernel_size=3, depth_multiplier=2, padding="same", strides=2, activation="relu"),
     (5, 5, 2), (None, 3, 3, 3), 36 + 12 + 3),
])
def test_separable_contract(kwargs, input_shape, out, params):
    check_layer(SeparableConv2D, kwargs, input_shape, out, params)


def test_separable_is_depthwise_then_pointwise():
    sep = SeparableConv2D(5, 3, padding="same", bias_initializer="ones")
    x = np.random.default_rng(2).standard_normal((2, 6, 6, 3)).astype(np.float32)
    y = sep(x).numpy()
    dw = DepthwiseConv2D(3, padding="same", use_bias=False)
    dw(x)
    dw.set_weights([sep.depthwise_kernel.data])
    ref = F.conv2d(dw(x), sep.pointwise_kernel.data, sep.bias.data).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
