"""Average pooling by running sums (the kernels for wide windows): equal to the reference on drawn geometries,
and chosen for every window wider than ``_RUNNING_SUM_MIN_WINDOW`` (the window-by-window kernels took time
quadratic in the window: 12 s for a 16,384-wide window over 2**20 pixels)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit._ext import threads
from nnkit.backend.cython import pool as cy
from nnkit.backend.reference import pool as ref

from test_pool import TOL, cases, non_contiguous


@pytest.fixture
def running_for_every_window(monkeypatch):
    monkeypatch.setattr(cy, "_RUNNING_SUM_MIN_WINDOW", 0)


def check(x, pool, strides, padding, rng):
    y_ref = ref.avg_pool2d_forward(x, pool, strides, padding)
    y = cy.avg_pool2d_forward(x, pool, strides, padding)
    assert y.dtype == x.dtype
    np.testing.assert_allclose(y, y_ref, **TOL[x.dtype.type])
    dy = rng.standard_normal(y_ref.shape).astype(x.dtype)
    dx = cy.avg_pool2d_backward(non_contiguous(dy), x.shape, pool, strides, padding)
    assert dx.dtype == x.dtype
    np.testing.assert_allclose(dx, ref.avg_pool2d_backward(dy, x.shape, pool, strides, padding), **TOL[x.dtype.type])


@settings(max_examples=60, deadline=None)
@given(case=cases(), nthreads=st.sampled_from([1, 2, 3]))
def test_running_sums_match_reference(case, nthreads):
    previous = threads.get_num_threads(), cy._RUNNING_SUM_MIN_WINDOW
    threads.set_num_threads(nthreads)
    cy._RUNNING_SUM_MIN_WINDOW = 0  # every window takes the running-sum kernels
    try:
        check(*case)
    finally:
        threads.set_num_threads(previous[0])
        cy._RUNNING_SUM_MIN_WINDOW = previous[1]


@pytest.mark.parametrize("shape,pool,strides,padding", [
    ((2, 40, 3, 2), (17, 2), (1, 1), ((8, 5), (0, 1))),     # tall window, stride 1: many running steps
    ((1, 3, 300, 1), (1, 64), (3, 5), ((0, 0), (63, 10))),  # wide window, padding nearly a window
    ((3, 30, 30, 4), (9, 9), (9, 9), ((0, 0), (0, 0))),     # windows side by side: every step a restart
    ((1, 5, 7, 2), (5, 9), (1, 1), ((4, 4), (8, 8))),       # windows wider than the image
])
def test_wide_windows_match_reference(shape, pool, strides, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    assert cy._running(pool)
    check(x, pool, strides, padding, rng)
    check(x.astype(np.float32), pool, strides, padding, rng)


def test_the_wide_window_of_the_issue(monkeypatch):
    """(1, 1, 2**20, 1) with a 16,384 window: the running kernels, and the reference's answer."""
    calls = []
    for name in ("avg_pool2d_running_forward", "avg_pool2d_running_backward"):
        kernel = getattr(cy._ext, name)
        monkeypatch.setattr(cy._ext, name, lambda *a, _k=kernel, _n=name: calls.append(_n) or _k(*a))
    x = np.random.default_rng(1).standard_normal((1, 1, 2**20, 1)).astype(np.float32)
    geometry = ((1, 16384), (1, 16384), ((0, 0), (0, 0)))
    y = cy.avg_pool2d_forward(x, *geometry)
    np.testing.assert_allclose(y, x.reshape(64, 16384).mean(axis=1, dtype=np.float64).reshape(1, 1, 64, 1),
                               rtol=1e-4, atol=1e-6)
    dx = cy.avg_pool2d_backward(np.ones_like(y), x.shape, *geometry)
    np.testing.assert_allclose(dx, 1 / 16384)
    assert calls == ["avg_pool2d_running_forward", "avg_pool2d_running_backward"]


def test_cancellation_stays_within_one_window(running_for_every_window):
    """A huge value leaves the running sum exactly: sums restart every window length."""
    x = np.ones((1, 1, 64, 1))
    x[0, 0, 3] = 1e12
    y = cy.avg_pool2d_forward(x, (1, 4), (1, 1), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(y[0, 0, 4:, 0], 1.0)  # every window past the huge value: exactly 1


def assert_same_non_finite(got, expected):
    for mask in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(mask(got), mask(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-10)


@pytest.mark.parametrize("geometry", [((3, 3), (1, 1), ((0, 0), (0, 0))), ((10, 10), (1, 1), ((0, 0), (0, 0))),
                                      ((4, 9), (2, 1), ((1, 2), (3, 4)))])
def test_non_finite_values_give_the_reference_answer(running_for_every_window, geometry):
    """An inf leaving a running sum would leave NaN (inf - inf) where the window sum is finite: such sums are
    taken again from scratch."""
    rng = np.random.default_rng(0)
    x = rng.random((2, 20, 20, 2))
    x[0, 3, 3, 0], x[1, 5, 5, 1], x[0, 10, 4, 1] = np.inf, -np.inf, np.nan
    y = cy.avg_pool2d_forward(x, *geometry)
    assert_same_non_finite(y, ref.avg_pool2d_forward(x, *geometry))
    assert np.isfinite(y).sum() > y.size // 2
    dy = rng.standard_normal(y.shape)
    dy[0, 1, 1, 0] = np.inf
    assert_same_non_finite(cy.avg_pool2d_backward(dy, x.shape, *geometry),
                           ref.avg_pool2d_backward(dy, x.shape, *geometry))
