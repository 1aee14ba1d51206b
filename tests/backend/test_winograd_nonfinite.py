"""Winograd and values its transforms cannot carry: the answer must be the direct convolution's.

An inf pixel met a -inf inside the transforms (NaN where the direct sum is inf),
and float32 inputs near 1e38 overflowed there (inf where the true result is
finite).  Such inputs take the direct path; ordinary ones stay on Winograd.
"""
import numpy as np
import pytest

from nnkit.backend.cython import conv as cy
from nnkit.backend.reference import conv as ref

ARGS = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)


def inputs(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((2, 6, 7, 16)).astype(dtype), rng.random((3, 3, 16, 16)).astype(dtype)


def assert_same(got, expected, rtol):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=rtol)


@pytest.fixture
def winograd_calls(monkeypatch):
    calls = []
    original = cy._winograd_forward
    monkeypatch.setattr(cy, "_winograd_forward", lambda *a: calls.append(1) or original(*a))
    return calls


def test_ordinary_inputs_stay_on_winograd(winograd_calls):
    x, w = inputs(np.float32)
    assert cy._algorithm(x.shape, w.shape, *ARGS) == cy.WINOGRAD
    assert_same(cy.conv2d_forward(x, w, None, *ARGS), ref.conv2d_forward(x, w, None, *ARGS), 1e-4)
    assert winograd_calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_non_finite_pixel_gives_the_direct_answer(dtype, value, winograd_calls):
    x, w = inputs(dtype)
    x[1, 2, 3, 4] = value
    y = cy.conv2d_forward(x, w, None, *ARGS)
    assert_same(y, ref.conv2d_forward(x, w, None, *ARGS), 1e-4)
    assert not winograd_calls
    if value == np.inf:
        assert np.isposinf(y).sum() == 9 * 16 and not np.isnan(y).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_inputs_do_not_overflow(dtype):
    x, w = inputs(dtype)
    big = np.finfo(dtype).max / 3.4  # 1e38 in float32
    x *= big
    w *= 1e-3
    y, expected = cy.conv2d_forward(x, w, None, *ARGS), ref.conv2d_forward(x, w, None, *ARGS)
    assert np.isfinite(expected).all() and np.isfinite(y).all()
    assert_same(y, expected, 1e-4)


def test_float32_near_1e38():
    x = np.full((1, 4, 4, 16), 1e38, np.float32)
    w = np.full((3, 3, 16, 16), 1e-3, np.float32)
    y = cy.conv2d_forward(x, w, None, *ARGS)
    assert np.isfinite(y).all()
    assert_same(y, ref.conv2d_forward(x, w, None, *ARGS), 1e-5)


@pytest.mark.parametrize("where", ["dy", "x", "w"])
def test_backward_with_non_finite_values_gives_the_direct_answer(where):
    x, w = inputs(np.float64)
    dy = np.random.default_rng(3).standard_normal(ref.conv2d_forward(x, w, None, *ARGS).shape)
    {"dy": dy, "x": x, "w": w}[where].flat[5] = np.inf
    for got, expected in zip(cy.conv2d_backward(dy, x, w, *ARGS), ref.conv2d_backward(dy, x, w, *ARGS)):
        assert_same(got, expected, 1e-10)


def test_backward_with_huge_values_does_not_overflow():
    x, w = inputs(np.float32)
    x *= 1e37
    dy = np.full(ref.conv2d_forward(x, w, None, *ARGS).shape, 1e-3, np.float32)
    for got, expected in zip(cy.conv2d_backward(dy, x, w, *ARGS), ref.conv2d_backward(dy, x, w, *ARGS)):
        assert np.isfinite(got).all()
        assert_same(got, expected, 1e-4)
