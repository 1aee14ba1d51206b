"""Bias + ReLU epilogue and ReLU gradient kernels: Cython against the NumPy
reference (shapes, dtypes, strides, in place, NaN), the reference against its
definition, and every validation rule."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit.backend.cython import activation as cy
from nnkit.backend.reference import activation as ref

BACKENDS = [pytest.param(ref, id="reference"), pytest.param(cy, id="cython")]


def non_contiguous(x):
    """The same values in a strided view."""
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    wide[..., ::2] = x
    return wide[..., ::2]


@st.composite
def cases(draw):
    # Up to 4 axes and ~300k elements, so both the serial and the OpenMP paths run.
    shape = tuple(draw(st.lists(st.integers(0, 9), min_size=1, max_size=3)))
    shape += (draw(st.sampled_from([1, 3, 16, 70, 1000, 4000])),)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(shape).astype(dtype)
    if x.size:
        x.reshape(-1)[rng.integers(0, x.size, 3)] = [np.nan, 0.0, -0.0]
    bias = rng.standard_normal(shape[-1]).astype(dtype) if draw(st.booleans()) else None
    return x, bias, draw(st.booleans()), draw(st.booleans()), rng


@settings(max_examples=40, deadline=None)
@given(cases())
def test_cython_matches_reference(case):
    x, bias, relu, contiguous, rng = case
    expected = ref.bias_relu(x, bias, relu)
    got = cy.bias_relu(x if contiguous else non_contiguous(x), bias, relu)
    np.testing.assert_array_equal(got, expected)  # one add and one compare: exact
    g = rng.standard_normal(x.shape).astype(x.dtype)
    np.testing.assert_array_equal(cy.relu_backward(g if contiguous else non_contiguous(g), expected),
                                  ref.relu_backward(g, expected))


@pytest.mark.parametrize("be", BACKENDS)
def test_reference_semantics(be):
    x = np.array([[-2.0, -0.0, 0.0, 3.0, np.nan]], np.float32)
    b = np.array([1.0, 1.0, -1.0, 0.5, 0.0], np.float32)
    np.testing.assert_array_equal(be.bias_relu(x, None, True), [[0, 0, 0, 3, np.nan]])
    np.testing.assert_array_equal(be.bias_relu(x, b, True), [[0, 1, 0, 3.5, np.nan]])
    np.testing.assert_array_equal(be.bias_relu(x, b, False), x + b)
    g = np.array([[1.0, 2.0, 3.0, 4.0, np.nan]], np.float32)
    y = be.bias_relu(x, None, True)
    np.testing.assert_array_equal(be.relu_backward(g, y), [[0, 0, 0, 4, 0]])


@pytest.mark.parametrize("be", BACKENDS)
def test_in_place(be):
    x = np.random.default_rng(1).standard_normal((64, 33)).astype(np.float32)
    b = np.ones(33, np.float32)
    expected = np.maximum(x + b, 0)
    assert be.bias_relu(x, b, True, out=x) is x
    np.testing.assert_array_equal(x, expected)
    g = np.ones_like(x)
    assert be.relu_backward(g, x, out=g) is g
    np.testing.assert_array_equal(g, (expected > 0).astype(np.float32))


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("call, error, match", [
    (lambda be: be.bias_relu(np.ones((2, 3), np.int32)), TypeError, "bias_relu: expected x to be float32"),
    (lambda be: be.bias_relu(np.ones((2, 3), np.float32), np.ones(4, np.float32)), ValueError,
     r"bias_relu: expected bias to have shape \(3,\), got \(4,\)"),
    (lambda be: be.bias_relu(np.ones((2, 3), np.float32), np.ones(3)), TypeError, "bias_relu: all inputs must share"),
    (lambda be: be.bias_relu(np.array(1.0, np.float32)), ValueError, "bias_relu: expected x with a channel axis"),
    (lambda be: be.bias_relu(np.ones((2, 3)), out=np.ones((3, 2))), ValueError, "bias_relu: expected out to have"),
    (lambda be: be.bias_relu(np.ones((2, 3)), out=np.ones((2, 3), np.float32)), TypeError,
     "bias_relu: expected out of dtype float64"),
    (lambda be: be.bias_relu(np.ones((2, 3)), out=np.ones((3, 2)).T), ValueError, "writable C-contiguous"),
    (lambda be: be.relu_backward(np.ones(3), np.ones(4)), ValueError, "relu_backward: expected g to have shape"),
    (lambda be: be.relu_backward(np.ones(3), np.ones(3, np.float32)), TypeError, "relu_backward: all inputs"),
    (lambda be: be.relu_backward([1.0], np.ones(1)), TypeError, "relu_backward: expected g to be a numpy.ndarray"),
])
def test_bad_input(be, call, error, match):
    with pytest.raises(error, match=match):
        call(be)
