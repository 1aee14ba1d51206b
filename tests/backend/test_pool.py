"""Pooling kernels: Cython against the NumPy reference, the reference against
naive loops, gradients by central differences, and every validation rule."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import numeric_grad
from nnkit.backend.cython import pool as cy
from nnkit.backend.reference import pool as ref

BACKENDS = [pytest.param(ref, id="reference"), pytest.param(cy, id="cython")]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


# ----------------------------------------------------------------------------- helpers

def non_contiguous(x):
    """The same values in a strided view (non-C-contiguous unless it has one element)."""
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    wide[..., ::2] = x
    return wide[..., ::2]


def windows(shape, pool, strides, padding):
    """Naive: for each output (oh, ow) the list of real (h, w) in row-major window order."""
    _, h, w, _ = shape
    out_h = (h + sum(padding[0]) - pool[0]) // strides[0] + 1
    out_w = (w + sum(padding[1]) - pool[1]) // strides[1] + 1
    for oh, ow in itertools.product(range(out_h), range(out_w)):
        cells = [(oh * strides[0] - padding[0][0] + i, ow * strides[1] - padding[1][0] + j)
                 for i in range(pool[0]) for j in range(pool[1])]
        yield oh, ow, [(a, b) for a, b in cells if 0 <= a < h and 0 <= b < w]


def naive_max(x, pool, strides, padding):
    n, h, w, c = x.shape
    out = {}
    for oh, ow, cells in windows(x.shape, pool, strides, padding):
        for b, ch in itertools.product(range(n), range(c)):
            best = None
            for a, col in cells:
                if best is None or x[b, a, col, ch] > best[0]:
                    best = (x[b, a, col, ch], a * w + col)
            out[b, oh, ow, ch] = best
    return out


def naive_avg(x, pool, strides, padding):
    out = {}
    for oh, ow, cells in windows(x.shape, pool, strides, padding):
        for b, ch in itertools.product(range(x.shape[0]), range(x.shape[3])):
            out[b, oh, ow, ch] = sum(x[b, a, col, ch] for a, col in cells) / len(cells)
    return out


@st.composite
def cases(draw):
    """A random pooling problem: geometry (overlap, padding, strides), dtype, contiguity."""
    pool = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = tuple((draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))) for k in pool)
    h = draw(st.integers(max(1, pool[0] - sum(padding[0])), 9))
    w = draw(st.integers(max(1, pool[1] - sum(padding[1])), 9))
    shape = (draw(st.integers(1, 3)), h, w, draw(st.integers(1, 7)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):  # small integers: many ties
        x = rng.integers(-2, 3, shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    if draw(st.booleans()):
        x = non_contiguous(x)
    return x, pool, strides, padding, rng


# ----------------------------------------------------------------------------- Cython == reference

@settings(max_examples=30, deadline=None)
@given(cases())
def test_max_pool_cython_matches_reference(case):
    x, pool, strides, padding, rng = case
    y_ref, arg_ref = ref.max_pool2d_forward(x, pool, strides, padding)
    y_cy, arg_cy = cy.max_pool2d_forward(x, pool, strides, padding)
    assert y_cy.dtype == x.dtype and arg_cy.dtype == np.int64
    np.testing.assert_array_equal(y_cy, y_ref)
    np.testing.assert_array_equal(arg_cy, arg_ref)
    dy = rng.standard_normal(y_ref.shape).astype(x.dtype)
    dx_ref = ref.max_pool2d_backward(dy, arg_ref, x.shape)
    dx_cy = cy.max_pool2d_backward(non_contiguous(dy), arg_ref, x.shape)
    assert dx_cy.dtype == x.dtype
    np.testing.assert_allclose(dx_cy, dx_ref, **TOL[x.dtype.type])


@settings(max_examples=30, deadline=None)
@given(cases())
def test_avg_pool_cython_matches_reference(case):
    x, pool, strides, padding, rng = case
    y_ref = ref.avg_pool2d_forward(x, pool, strides, padding)
    y_cy = cy.avg_pool2d_forward(x, pool, strides, padding)
    assert y_cy.dtype == x.dtype
    np.testing.assert_allclose(y_cy, y_ref, **TOL[x.dtype.type])
    dy = rng.standard_normal(y_ref.shape).astype(x.dtype)
    dx_ref = ref.avg_pool2d_backward(dy, x.shape, pool, strides, padding)
    dx_cy = cy.avg_pool2d_backward(non_contiguous(dy), x.shape, pool, strides, padding)
    assert dx_cy.dtype == x.dtype
    np.testing.assert_allclose(dx_cy, dx_ref, **TOL[x.dtype.type])


def test_cython_matches_reference_on_large_parallel_input():
    """Big enough for the kernels to use the whole OpenMP team."""
    x = np.random.default_rng(0).standard_normal((6, 17, 19, 33)).astype(np.float32)
    geometry = ((3, 3), (2, 2), ((1, 1), (1, 1)))
    (y0, a0), (y1, a1) = ref.max_pool2d_forward(x, *geometry), cy.max_pool2d_forward(x, *geometry)
    np.testing.assert_array_equal(y1, y0)
    np.testing.assert_array_equal(a1, a0)
    np.testing.assert_allclose(cy.max_pool2d_backward(y0, a0, x.shape),
                               ref.max_pool2d_backward(y0, a0, x.shape), rtol=1e-6)
    np.testing.assert_allclose(cy.avg_pool2d_forward(x, *geometry),
                               ref.avg_pool2d_forward(x, *geometry), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cy.avg_pool2d_backward(y0, x.shape, *geometry),
                               ref.avg_pool2d_backward(y0, x.shape, *geometry), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- reference == naive loops

GEOMETRIES = [
    ((2, 2), (2, 2), ((0, 0), (0, 0))),
    ((3, 3), (1, 1), ((1, 1), (1, 1))),   # overlapping, "same"
    ((3, 2), (2, 1), ((2, 0), (1, 1))),   # asymmetric
    ((3, 3), (2, 2), ((1, 2), (2, 1))),
    ((1, 4), (3, 1), ((0, 0), (3, 2))),
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_reference_matches_naive_loops(geometry):
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (2, 5, 6, 3)).astype(np.float64)  # ties exercise "first maximum"
    y, argmax = ref.max_pool2d_forward(x, *geometry)
    for idx, (value, flat) in naive_max(x, *geometry).items():
        assert y[idx] == value and argmax[idx] == flat, idx
    avg = ref.avg_pool2d_forward(x, *geometry)
    for idx, value in naive_avg(x, *geometry).items():
        assert avg[idx] == pytest.approx(value, rel=1e-14)
    assert len(naive_avg(x, *geometry)) == avg.size


@pytest.mark.parametrize("backend", BACKENDS)
def test_padding_never_wins(backend):
    x = -np.arange(1, 2 * 4 * 4 * 2 + 1, dtype=np.float64).reshape(2, 4, 4, 2)
    x[0, 0, 0, 0] = -np.inf
    y, argmax = backend.max_pool2d_forward(x, (3, 3), (2, 2), ((2, 2), (2, 2)))
    assert (y < 0).all()
    corner = backend.max_pool2d_forward(x[:, :1, :1], (2, 2), (1, 1), ((1, 1), (1, 1)))
    assert (corner[0][0, ..., 0] == -np.inf).all() and (corner[1] == 0).all()
    # every window holds its own argmax
    for idx, (value, flat) in naive_max(x, (3, 3), (2, 2), ((2, 2), (2, 2))).items():
        assert argmax[idx] == flat and y[idx] == value


# ----------------------------------------------------------------------------- gradients

def distinct(shape, seed):
    """Values with gaps far above the finite-difference step: no ties, no switching."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.01 + rng.uniform(0, 1e-3, shape)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("geometry", GEOMETRIES[1:4])
def test_max_pool_gradient(backend, geometry):
    x = distinct((2, 5, 6, 2), 2)
    y, argmax = backend.max_pool2d_forward(x, *geometry)
    weights = np.random.default_rng(3).standard_normal(y.shape)
    analytic = backend.max_pool2d_backward(weights, argmax, x.shape)
    numeric = numeric_grad(lambda a: float((backend.max_pool2d_forward(a[0], *geometry)[0] * weights).sum()),
                           [x.copy()], 0)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_avg_pool_gradient(backend, geometry):
    x = np.random.default_rng(4).standard_normal((2, 5, 6, 2))
    y = backend.avg_pool2d_forward(x, *geometry)
    weights = np.random.default_rng(5).standard_normal(y.shape)
    analytic = backend.avg_pool2d_backward(weights, x.shape, *geometry)
    numeric = numeric_grad(lambda a: float((backend.avg_pool2d_forward(a[0], *geometry) * weights).sum()),
                           [x.copy()], 0)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- bad input

X = np.zeros((2, 6, 6, 3), dtype=np.float32)
GOOD = ((2, 2), (2, 2), ((0, 0), (0, 0)))


def forward_calls(backend):
    return [("max_pool2d", backend.max_pool2d_forward), ("avg_pool2d", backend.avg_pool2d_forward)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("args, error, words", [
    ((X[0], *GOOD), ValueError, ["x", "4 dimensions", "(6, 6, 3)"]),
    ((X.astype(np.int32), *GOOD), TypeError, ["float32 or float64", "int32"]),
    ((X.astype(np.float16), *GOOD), TypeError, ["float16"]),
    ((X.tolist(), *GOOD), TypeError, ["numpy.ndarray", "list"]),
    ((X, (0, 2), (2, 2), GOOD[2]), ValueError, ["pool_size", "positive", "(0, 2)"]),
    ((X, (2, 2), (2, -1), GOOD[2]), ValueError, ["strides", "positive", "(2, -1)"]),
    ((X, (2, 2), (2, 2), ((0, -1), (0, 0))), ValueError, ["padding", "non-negative"]),
    ((X, (2, 2), (2, 2), ((2, 0), (0, 0))), ValueError, ["height padding", "pool size 2", "(2, 0)"]),
    ((X, (3, 3), (1, 1), ((0, 0), (1, 3))), ValueError, ["width padding", "pool size 3", "(1, 3)"]),
    ((X, (9, 2), (1, 1), ((1, 1), (0, 0))), ValueError, ["height window", "larger than the padded input",
                                                          "6 + padding 2"]),
    ((X[:, :0], (1, 1), (1, 1), ((0, 0), (0, 0))), ValueError, ["positive input height", "(2, 0, 6, 3)"]),
])
def test_forward_bad_input(backend, args, error, words):
    for op, fn in forward_calls(backend):
        with pytest.raises(error) as info:
            fn(*args)
        message = str(info.value)
        assert message.startswith(f"{op}: "), message
        for word in words:
            assert word in message, (word, message)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_backward_bad_input(backend):
    y, argmax = ref.max_pool2d_forward(X, *GOOD)
    too_big, negative = argmax.copy(), argmax.copy()
    too_big[1, 2, 0, 1] = 50
    negative[0, 0, 0, 0] = -8
    cases = [
        ((y, argmax.astype(np.float64), X.shape), TypeError, ["argmax", "integer dtype", "float64"]),
        ((y, argmax[:, :2], X.shape), ValueError, ["argmax", "shape (2, 3, 3, 3)", "(2, 2, 3, 3)"]),
        ((y[0], argmax, X.shape), ValueError, ["dy", "4 dimensions"]),
        ((y, argmax, (2, 6, 6, 4)), ValueError, ["dy (2, 3, 3, 3)", "x_shape (2, 6, 6, 4)", "N and C"]),
        ((y, argmax, (2, 6, 6)), ValueError, ["x_shape", "(N, H, W, C)"]),
        ((y, too_big, X.shape), ValueError, ["argmax values in [0, 36)", "got 50"]),
        ((y, negative, X.shape), ValueError, ["argmax values in [0, 36)", "got -8"]),
    ]
    for args, error, words in cases:
        with pytest.raises(error) as info:
            backend.max_pool2d_backward(*args)
        message = str(info.value)
        assert message.startswith("max_pool2d: "), message
        for word in words:
            assert word in message, (word, message)


@pytest.mark.parametrize("backend", BACKENDS)
def test_avg_backward_bad_input(backend):
    dy = ref.avg_pool2d_forward(X, *GOOD)
    cases = [
        ((dy[:, :2], X.shape, *GOOD), ValueError, ["dy", "shape (2, 3, 3, 3)", "(2, 2, 3, 3)"]),
        ((dy.astype(np.int64), X.shape, *GOOD), TypeError, ["dy", "int64"]),
        ((dy, (3, 6, 6, 3), *GOOD), ValueError, ["N and C"]),
        ((dy, X.shape, (2, 2), (0, 2), GOOD[2]), ValueError, ["strides"]),
    ]
    for args, error, words in cases:
        with pytest.raises(error) as info:
            backend.avg_pool2d_backward(*args)
        message = str(info.value)
        assert message.startswith("avg_pool2d: "), message
        for word in words:
            assert word in message, (word, message)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch_and_channels(backend):
    for shape in [(0, 4, 4, 3), (2, 4, 4, 0)]:
        x = np.zeros(shape, dtype=np.float32)
        y, argmax = backend.max_pool2d_forward(x, *GOOD)
        assert y.shape == argmax.shape == (shape[0], 2, 2, shape[3])
        assert backend.max_pool2d_backward(y, argmax, shape).shape == shape
        assert backend.avg_pool2d_backward(backend.avg_pool2d_forward(x, *GOOD), shape, *GOOD).shape == shape
