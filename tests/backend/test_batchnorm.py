"""Batch-norm kernels: Cython against the NumPy reference, the reference against
naive per-channel loops, gradients through the batch statistics by central
differences, numerical stability, reproducibility and every validation rule."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import numeric_grad
from nnkit._ext import threads
from nnkit.backend.cython import batchnorm as cy
from nnkit.backend.reference import batchnorm as ref

BACKENDS = [pytest.param(ref, id="reference"), pytest.param(cy, id="cython")]


def non_contiguous(x):
    """The same values in a strided view (non-C-contiguous unless it has one element)."""
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    wide[..., ::2] = x
    return wide[..., ::2]


def problem(shape, dtype, seed, offset=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    c = shape[-1]
    x = (rng.standard_normal(shape) * scale + offset).astype(dtype)
    gamma = rng.uniform(0.5, 2, c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    return x, gamma, beta, rng


def assert_all_close(got, expected, x, invstd):
    """Equal up to rounding, scaled by the conditioning of ``x - mean``: both
    backends round the mean to ``eps * |x|``, which ``invstd`` then magnifies."""
    eps = np.finfo(x.dtype).eps
    cond = 1 + np.abs(x).max(initial=0) * np.abs(invstd).max(initial=0)
    for g, e in zip(got, expected):
        assert g.dtype == x.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=64 * eps, atol=64 * eps * cond * (1 + np.abs(e).max(initial=0)))


# ----------------------------------------------------------------------------- Cython == reference

@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(ndim - 1)) + (draw(st.integers(1, 70)),)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    x, gamma, beta, rng = problem(shape, dtype, draw(st.integers(0, 2**32 - 1)),
                                  offset=draw(st.sampled_from([0.0, 3.0, -50.0])))
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    contiguous = draw(st.booleans())
    return x, gamma, beta, eps, rng, contiguous


@settings(max_examples=30, deadline=None)
@given(cases())
def test_cython_matches_reference(case):
    x, gamma, beta, eps, rng, contiguous = case
    dtype = x.dtype.type
    xin = x if contiguous else non_contiguous(x)
    expected = ref.batch_norm_forward_train(x, gamma, beta, eps)
    got = cy.batch_norm_forward_train(xin, gamma, beta, eps)
    _, mean, invstd, _ = expected
    assert_all_close(got, expected, x, invstd)
    dy = rng.standard_normal(x.shape).astype(dtype)
    dyin = dy if contiguous else non_contiguous(dy)
    assert_all_close(cy.batch_norm_backward(dyin, xin, mean, invstd, gamma),
                     ref.batch_norm_backward(dy, x, mean, invstd, gamma), x, invstd)
    var = rng.uniform(0.1, 3, x.shape[-1]).astype(dtype)
    assert_all_close([cy.batch_norm_inference(xin, gamma, beta, mean, var, eps)],
                     [ref.batch_norm_inference(x, gamma, beta, mean, var, eps)], x, 1 / np.sqrt(var + eps))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cython_matches_reference_on_large_parallel_input(dtype):
    """Many chunks and blocks, the whole OpenMP team, a tail row count."""
    x, gamma, beta, rng = problem((37, 29, 31, 13), dtype, 0, offset=2.0)
    expected = ref.batch_norm_forward_train(x, gamma, beta, 1e-5)
    assert_all_close(cy.batch_norm_forward_train(x, gamma, beta, 1e-5), expected, x, expected[2])
    dy = rng.standard_normal(x.shape).astype(dtype)
    assert_all_close(cy.batch_norm_backward(dy, x, expected[1], expected[2], gamma),
                     ref.batch_norm_backward(dy, x, expected[1], expected[2], gamma), x, expected[2])
    var = rng.uniform(0.5, 2, 13).astype(dtype)
    assert_all_close([cy.batch_norm_inference(x, gamma, beta, expected[1], var, 1e-5)],
                     [ref.batch_norm_inference(x, gamma, beta, expected[1], var, 1e-5)], x, 1 / np.sqrt(var))


# ----------------------------------------------------------------------------- reference == naive loops

def test_reference_matches_naive_loops():
    x, gamma, beta, rng = problem((3, 4, 5), np.float64, 1)
    eps = 1e-3
    rows = x.reshape(-1, 5)
    y, mean, invstd, _ = ref.batch_norm_forward_train(x, gamma, beta, eps)
    dy = rng.standard_normal(x.shape)
    dx, dgamma, dbeta = ref.batch_norm_backward(dy, x, mean, invstd, gamma)
    drows, dxrows, yrows = dy.reshape(-1, 5), dx.reshape(-1, 5), y.reshape(-1, 5)
    m = rows.shape[0]
    for c in range(5):
        col = [float(v) for v in rows[:, c]]
        mu = math.fsum(col) / m
        var = math.fsum((v - mu) ** 2 for v in col) / m
        s = 1 / math.sqrt(var + eps)
        assert mean[c] == pytest.approx(mu, rel=1e-14)
        assert invstd[c] == pytest.approx(s, rel=1e-13)
        xhat = [(v - mu) * s for v in col]
        for r in range(m):
            assert yrows[r, c] == pytest.approx(xhat[r] * gamma[c] + beta[c], rel=1e-12, abs=1e-12)
        g = [float(v) for v in drows[:, c]]
        assert dbeta[c] == pytest.approx(math.fsum(g), rel=1e-12)
        assert dgamma[c] == pytest.approx(math.fsum(a * b for a, b in zip(g, xhat)), rel=1e-12)
        for r in range(m):
            naive = gamma[c] * s / m * (m * g[r] - dbeta[c] - xhat[r] * dgamma[c])
            assert dxrows[r, c] == pytest.approx(naive, rel=1e-10, abs=1e-12)
    var = rng.uniform(0.5, 2, 5)
    inf = ref.batch_norm_inference(x, gamma, beta, mean, var, eps)
    assert inf[1, 2, 3] == pytest.approx((x[1, 2, 3] - mean[3]) / math.sqrt(var[3] + eps) * gamma[3] + beta[3])


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 2, 4), (1, 5)])
def test_train_gradients_through_batch_statistics(backend, shape):
    x, gamma, beta, rng = problem(shape, np.float64, 2, offset=1.5)
    eps = 1e-2
    y, mean, invstd, _ = backend.batch_norm_forward_train(x, gamma, beta, eps)
    weights = rng.standard_normal(y.shape)
    dx, dgamma, dbeta = backend.batch_norm_backward(weights, x, mean, invstd, gamma)

    def loss(arrays):
        return float((backend.batch_norm_forward_train(*arrays, eps)[0] * weights).sum())

    arrays = [x.copy(), gamma.copy(), beta.copy()]
    for i, analytic in enumerate([dx, dgamma, dbeta]):
        np.testing.assert_allclose(analytic, numeric_grad(loss, arrays, i), rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- numerics

@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_variance_is_stable_under_a_large_offset(backend):
    # mean 1e4, std 1e-1: naive E[x^2] - E[x]^2 in float32 loses every digit
    x, gamma, beta, _ = problem((4096, 8), np.float32, 3, offset=1e4, scale=0.1)
    _, mean, invstd, _ = backend.batch_norm_forward_train(x, gamma, beta, 1e-8)
    exact = x.astype(np.float64)
    np.testing.assert_allclose(mean, exact.mean(0), rtol=1e-6)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(exact.var(0) + 1e-8), rtol=2e-3)


def test_cython_is_bitwise_reproducible_for_a_thread_count():
    x, gamma, beta, rng = problem((64, 9, 9, 24), np.float32, 4)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    before = threads.get_num_threads()
    try:
        for n in (1, 2, 3):
            threads.set_num_threads(n)
            first = cy.batch_norm_forward_train(x, gamma, beta, 1e-5)
            grads = cy.batch_norm_backward(dy, x, first[1], first[2], gamma)
            for _ in range(3):
                again = cy.batch_norm_forward_train(x, gamma, beta, 1e-5)
                for a, b in zip(first, again):
                    np.testing.assert_array_equal(a, b)
                for a, b in zip(grads, cy.batch_norm_backward(dy, x, first[1], first[2], gamma)):
                    np.testing.assert_array_equal(a, b)
    finally:
        threads.set_num_threads(before)


# ----------------------------------------------------------------------------- bad input

X = np.zeros((4, 3), dtype=np.float32)
C3 = np.ones(3, dtype=np.float32)


def check_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert message.startswith("batch_norm: "), message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("args, error, words", [
    ((np.array(1, np.float32), C3, C3, 1e-5), ValueError, ["(..., C)", "shape ()"]),
    ((X.astype(np.int64), C3, C3, 1e-5), TypeError, ["float32 or float64", "int64"]),
    ((X, C3.astype(np.float64), C3, 1e-5), TypeError, ["one dtype", "x=float32", "gamma=float64"]),
    ((X, np.ones(4, np.float32), C3, 1e-5), ValueError, ["gamma", "shape (3,)", "(4,)"]),
    ((X, C3, np.ones((1, 3), np.float32), 1e-5), ValueError, ["beta", "1 dimensions", "(1, 3)"]),
    ((X, C3, C3, 0.0), ValueError, ["eps", "(0.0, inf]", "0.0"]),
    ((X, C3, C3, -1e-5), ValueError, ["eps", "-1e-05"]),
    ((X, C3, C3, float("nan")), ValueError, ["eps", "nan"]),
    ((X, C3, C3, "small"), TypeError, ["eps", "real number", "'small'"]),
    ((X[:0], C3, C3, 1e-5), ValueError, ["at least one row", "(0, 3)"]),
])
def test_forward_train_bad_input(backend, args, error, words):
    check_error(lambda: backend.batch_norm_forward_train(*args), error, words)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("args, error, words", [
    ((X[:3], X, C3, C3, C3), ValueError, ["dy and x", "(3, 3)", "(4, 3)"]),
    ((X.astype(np.float64), X, C3, C3, C3), TypeError, ["dy=float64", "x=float32"]),
    ((X, X, C3[:2], C3, C3), ValueError, ["mean", "shape (3,)", "(2,)"]),
    ((X, X, C3, C3.astype(np.float64), C3), TypeError, ["invstd=float64"]),
    ((X, X, C3, C3, None), TypeError, ["gamma", "numpy.ndarray", "NoneType"]),
])
def test_backward_bad_input(backend, args, error, words):
    check_error(lambda: backend.batch_norm_backward(*args), error, words)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("args, error, words", [
    ((X, C3, C3, C3, np.ones(2, np.float32), 1e-5), ValueError, ["var", "shape (3,)", "(2,)"]),
    ((X, C3, C3, C3.astype(np.float64), C3, 1e-5), TypeError, ["mean=float64"]),
    ((X, C3, C3, C3, C3, 0), ValueError, ["eps"]),
])
def test_inference_bad_input(backend, args, error, words):
    check_error(lambda: backend.batch_norm_inference(*args), error, words)


@pytest.mark.parametrize("backend", BACKENDS)
def test_inference_accepts_an_empty_batch(backend):
    y = backend.batch_norm_inference(X[:0], C3, C3, C3, C3, 1e-5)
    assert y.shape == (0, 3) and y.dtype == np.float32


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_variance_is_returned_exactly_for_the_moving_average(backend):
    # A low-variance input: rebuilding var as 1 / invstd**2 - eps from a float32 invstd was 1.3e-4 off.
    x, gamma, beta, _ = problem((512, 6), np.float32, 5, offset=0.5, scale=1e-3)
    *_, var = backend.batch_norm_forward_train(x, gamma, beta, 1e-3)
    np.testing.assert_allclose(var, x.astype(np.float64).var(0), rtol=1e-4)


def test_moving_variance_follows_the_batch_variance():
    from nnkit import functional as F
    x, gamma, beta, _ = problem((512, 6), np.float32, 6, offset=0.5, scale=1e-3)
    mean, var = np.zeros(6, np.float32), np.ones(6, np.float32)
    F.batch_norm(x, gamma, beta, mean, var, training=True, momentum=0.0)
    np.testing.assert_allclose(var, x.astype(np.float64).var(0), rtol=1e-4)
