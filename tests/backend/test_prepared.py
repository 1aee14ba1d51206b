"""Prepared kernel calls (``nnkit.backend.cython.prepared``) give the checked wrappers' answers bit for bit,
and anything unlike what they were prepared for goes through the checked wrapper."""
import numpy as np
import pytest

from nnkit.backend import cython as cy
from nnkit.backend.cython import prepared

rng = np.random.default_rng(0)
DTYPES = [np.float32, np.float64]


def _array(shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, strides, padding, groups", [
    ((1, 28, 28, 1), (5, 5, 1, 6), (1, 1), ((2, 2), (2, 2)), 1),    # few channels: transposed columns
    ((2, 14, 14, 6), (5, 5, 6, 16), (1, 1), ((0, 0), (0, 0)), 1),   # im2col
    ((2, 9, 9, 8), (3, 3, 4, 8), (2, 2), ((1, 1), (1, 1)), 2),      # grouped, strided
    ((2, 7, 7, 8), (1, 1, 8, 4), (1, 1), ((0, 0), (0, 0)), 1),      # pointwise
    ((2, 8, 8, 4), (3, 3, 1, 4), (1, 1), ((1, 1), (1, 1)), 4),      # depthwise
])
def test_conv2d_forward(dtype, x_shape, w_shape, strides, padding, groups):
    x, w, b = _array(x_shape, dtype), _array(w_shape, dtype), _array(w_shape[3], dtype)
    for bias in (b, None):
        run = prepared.prepare_conv2d_forward(x_shape, dtype, w, bias, strides, padding, (1, 1), groups)
        want = cy.conv2d_forward(x, w, bias, strides, padding, (1, 1), groups)
        assert np.array_equal(run(x, w, bias), want)


def test_winograd_convolutions_are_not_prepared():
    x_shape, w = (1, 8, 8, 32), _array((3, 3, 32, 32), np.float32)
    assert prepared.prepare_conv2d_forward(x_shape, np.float32, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1),
                                           1) is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_and_bias_relu(dtype):
    a, w, b = _array((3, 40), dtype), _array((40, 12), dtype), _array(12, dtype)
    matmul = prepared.prepare_matmul(a.shape, dtype, w)
    assert np.array_equal(matmul(a, w), cy.matmul(a, w))
    for relu in (True, False):
        for bias in (b, None):
            run = prepared.prepare_bias_relu((3, 12), dtype, bias, relu)
            y = cy.matmul(a, w)
            assert np.array_equal(run(y.copy(), bias), cy.bias_relu(y, bias, relu))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool_size, strides, padding", [
    ((2, 2), (2, 2), ((0, 0), (0, 0))), ((3, 3), (2, 2), ((1, 1), (1, 1))), ((10, 10), (1, 1), ((0, 0), (0, 0)))])
def test_pooling(dtype, pool_size, strides, padding):
    x = _array((2, 12, 12, 3), dtype)
    run = prepared.prepare_max_pool2d_forward(x.shape, dtype, pool_size, strides, padding)
    assert np.array_equal(run(x), cy.max_pool2d_forward(x, pool_size, strides, padding)[0])
    run = prepared.prepare_avg_pool2d_forward(x.shape, dtype, pool_size, strides, padding)
    assert np.array_equal(run(x), cy.avg_pool2d_forward(x, pool_size, strides, padding))


def test_anything_else_takes_the_checked_wrapper():
    x, w = _array((2, 10, 10, 3), np.float32), _array((3, 3, 3, 4), np.float32)
    geometry = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    run = prepared.prepare_conv2d_forward(x.shape, np.float32, w, None, *geometry)
    want = cy.conv2d_forward(x, w, None, *geometry)
    strided = np.asfortranarray(x)  # not C-contiguous: the wrapper makes it so
    assert np.array_equal(run(strided, w, None), want)
    other = w.copy()  # not the array prepared with: checked again
    assert np.array_equal(run(x, other, None), want)
    with pytest.raises(ValueError, match="conv2d"):
        run(x[:, :, :, :2], w, None)  # the wrapper's error for the wrong channels
    with pytest.raises(TypeError, match="conv2d"):
        run(x.astype(np.int32), w, None)
    pool = prepared.prepare_max_pool2d_forward(x.shape, np.float32, (2, 2), (2, 2), ((0, 0), (0, 0)))
    bigger = _array((3, 10, 10, 3), np.float32)
    assert np.array_equal(pool(bigger), cy.max_pool2d_forward(bigger, (2, 2), (2, 2), ((0, 0), (0, 0)))[0])
    matmul = prepared.prepare_matmul((2, 5), np.float32, _array((5, 3), np.float32))
    with pytest.raises(ValueError, match="matmul: inner dimensions differ"):
        matmul(_array((2, 4), np.float32), _array((5, 3), np.float32))
