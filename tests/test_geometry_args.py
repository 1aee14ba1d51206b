"""Strides, pool sizes and paddings: floats are errors (never truncated), huge values work or are refused clearly.

The Cython kernels take geometry as Py_ssize_t: a stride of 2**31 (narrowed to
int before, a bare OverflowError) gives the reference's answer.
"""
import numpy as np
import pytest

from nnkit import Tensor
from nnkit import functional as F
from nnkit.backend.cython import conv as cy
from nnkit.backend.cython import pool as cy_pool
from nnkit.backend.reference import conv as ref
from nnkit.backend.reference import pool as ref_pool
from nnkit.layers import AveragePooling2D, Conv2D, MaxPooling2D

X = np.random.default_rng(0).standard_normal((1, 5, 5, 2))
W = np.random.default_rng(1).standard_normal((2, 2, 2, 3))


@pytest.mark.parametrize("strides", [(2**31, 1), (1, 2**31 + 5), (2**40, 2**33)])
def test_conv_stride_of_2_to_the_31_matches_reference(strides):
    args = (strides, ((0, 0), (0, 0)), (1, 1), 1)
    y = cy.conv2d_forward(X, W, None, *args)
    np.testing.assert_allclose(y, ref.conv2d_forward(X, W, None, *args), rtol=1e-12)
    dy = np.ones_like(y)
    for got, expected in zip(cy.conv2d_backward(dy, X, W, *args), ref.conv2d_backward(dy, X, W, *args)):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_pool_stride_of_2_to_the_31_matches_reference():
    args = ((2, 2), (2**31, 2**32), ((0, 0), (0, 0)))
    np.testing.assert_allclose(cy_pool.avg_pool2d_forward(X, *args), ref_pool.avg_pool2d_forward(X, *args), rtol=1e-14)
    np.testing.assert_array_equal(cy_pool.max_pool2d_forward(X, *args)[0], ref_pool.max_pool2d_forward(X, *args)[0])


@pytest.mark.parametrize("kwargs,error,fragment", [
    (dict(strides=1.5), TypeError, "strides"),
    (dict(strides=(1.9, 1)), TypeError, "(1.9, 1)"),
    (dict(strides=(True, 1)), TypeError, "strides"),
    (dict(strides=2**63), ValueError, "below 2**62"),
    (dict(dilation=2.0), TypeError, "dilation"),
    (dict(padding=((1.5, 0), (0, 0))), TypeError, "padding"),
    (dict(padding=(1, 1.0)), ValueError, "padding"),
    (dict(padding=2**62), ValueError, "below 2**62"),
    (dict(padding=-1), ValueError, "non-negative"),
])
def test_conv2d_rejects_bad_geometry(kwargs, error, fragment):
    with pytest.raises(error) as info:
        F.conv2d(Tensor(X), Tensor(W), **kwargs)
    assert str(info.value).startswith("conv2d: ") and fragment in str(info.value)


@pytest.mark.parametrize("fn,op", [(F.max_pool2d, "max_pool2d"), (F.avg_pool2d, "avg_pool2d")])
@pytest.mark.parametrize("kwargs", [dict(pool_size=2.0), dict(pool_size=(2, 1.5)), dict(strides=1.0),
                                    dict(pool_size=None)])
def test_pooling_rejects_float_sizes(fn, op, kwargs):
    with pytest.raises(TypeError) as info:
        fn(Tensor(X), **kwargs)
    assert str(info.value).startswith(f"{op}: ")


@pytest.mark.parametrize("layer", [lambda: MaxPooling2D(2.0), lambda: AveragePooling2D((2, 2.0)),
                                   lambda: MaxPooling2D(2, strides=1.5), lambda: Conv2D(3, 2.5),
                                   lambda: Conv2D(3, 3, strides=None)])
def test_layers_reject_float_sizes(layer):
    """A ValueError (as Keras), in validate.py's words, naming the layer, the argument and the value."""
    with pytest.raises(ValueError, match=r"^\w+ '\w+': expected (pool_size|strides|kernel_size) to be .*, got "):
        layer()


def test_backend_refuses_truncation():
    with pytest.raises(TypeError, match="strides"):
        cy.conv2d_forward(X, W, None, (1.9, 1), ((0, 0), (0, 0)), (1, 1), 1)
    with pytest.raises(TypeError, match="padding"):
        ref_pool.avg_pool2d_forward(X, (2, 2), (1, 1), ((0.5, 0), (0, 0)))


@pytest.mark.parametrize("call,op,fragment", [
    (lambda: ref_pool.avg_pool2d_backward(np.ones((1, 2, 2, 2)), (1, 4.5, 4, 2), (2, 2), (2, 2), ((0, 0), (0, 0))),
     "avg_pool2d", "x_shape"),
    (lambda: cy.col2im(np.ones((4, 8)), (1, 3, 3.0, 2), (2, 2), (1, 1), ((0, 0), (0, 0)), (1, 1)), "col2im", "x_shape"),
    (lambda: F.conv2d(Tensor(X), Tensor(W), groups=1.5), "conv2d", "groups"),
    (lambda: cy.conv2d_forward(X, W, None, (1, 1), ((0, 0), (0, 0)), (1, 1), True), "conv2d", "groups"),
])
def test_shapes_and_counts_are_never_truncated(call, op, fragment):
    with pytest.raises(TypeError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{op}: expected {fragment} to be ") and ", got " in message
