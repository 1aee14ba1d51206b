"""Fused softmax + cross-entropy kernels: Cython against the NumPy reference,
the reference against naive loops, gradients by central differences, extreme
logits, and every validation rule."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import numeric_grad
from nnkit.backend.cython import softmax_xent as cy
from nnkit.backend.reference import softmax_xent as ref

BACKENDS = [pytest.param(ref, id="reference"), pytest.param(cy, id="cython")]


def non_contiguous(x):
    """The same values in a strided view (non-C-contiguous unless it has one element)."""
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    wide[..., ::2] = x
    return wide[..., ::2]


def close(got, expected, scale=1.0):
    """Equal up to a few ulps of the larger of the value and ``scale`` (the logits' size)."""
    eps = np.finfo(expected.dtype).eps
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=64 * eps, atol=64 * eps * scale)


def targets(rng, n, k, dtype, kind):
    if kind == "labels":
        return rng.integers(0, k, n)
    if kind == "onehot":
        return np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    soft = rng.random((n, k)).astype(dtype)
    return soft / soft.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- Cython == reference

@st.composite
def cases(draw):
    n, k = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 20.0, 1e4]))
    logits = (rng.standard_normal((n, k)) * scale).astype(dtype)
    kind = draw(st.sampled_from(["labels", "onehot", "soft"]))
    target = targets(rng, n, k, dtype, kind)
    if kind == "labels":
        target = target.astype(draw(st.sampled_from([np.int64, np.int32, np.uint8 if k < 256 else np.int16])))
    ls = draw(st.sampled_from([0.0, 0.1, 1.0]))
    contiguous = draw(st.booleans())
    return logits, target, ls, scale, rng, contiguous


@settings(max_examples=30, deadline=None)
@given(cases())
def test_cython_matches_reference(case):
    logits, target, ls, scale, rng, contiguous = case
    loss, probs = ref.softmax_cross_entropy_forward(logits, target, ls)
    z = logits if contiguous else non_contiguous(logits)
    t = target if contiguous or target.ndim == 1 else non_contiguous(target)
    loss_cy, probs_cy = cy.softmax_cross_entropy_forward(z, t, ls)
    close(probs_cy, probs)
    close(loss_cy, loss, scale)
    dloss = rng.standard_normal(loss.shape).astype(logits.dtype)
    expected = ref.softmax_cross_entropy_backward(dloss, probs, target, ls)
    got = cy.softmax_cross_entropy_backward(dloss if contiguous else non_contiguous(dloss[:, None])[:, 0],
                                            probs if contiguous else non_contiguous(probs), t, ls)
    close(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["labels", "soft"])
def test_cython_matches_reference_on_large_parallel_input(dtype, kind):
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((300, 257)) * 5).astype(dtype)
    target = targets(rng, 300, 257, dtype, kind)
    loss, probs = ref.softmax_cross_entropy_forward(logits, target, 0.05)
    loss_cy, probs_cy = cy.softmax_cross_entropy_forward(logits, target, 0.05)
    close(probs_cy, probs)
    close(loss_cy, loss, 5.0)
    dloss = rng.standard_normal(300).astype(dtype)
    close(cy.softmax_cross_entropy_backward(dloss, probs, target, 0.05),
          ref.softmax_cross_entropy_backward(dloss, probs, target, 0.05))


# ----------------------------------------------------------------------------- reference == naive loops

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_matches_naive_loops(backend, ls):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((4, 6)) * 3
    soft = targets(rng, 4, 6, np.float64, "soft")
    labels = rng.integers(0, 6, 4)
    for target in (labels, soft):
        loss, probs = backend.softmax_cross_entropy_forward(logits, target, ls)
        for n in range(4):
            exps = [math.exp(v) for v in logits[n]]
            total = math.fsum(exps)
            row_target = [float(j == labels[n]) for j in range(6)] if target.ndim == 1 else list(target[n])
            row_target = [(1 - ls) * t + ls / 6 for t in row_target]
            naive = -math.fsum(t * math.log(e / total) for t, e in zip(row_target, exps))
            assert loss[n] == pytest.approx(naive, rel=1e-12)
            for j in range(6):
                assert probs[n, j] == pytest.approx(exps[j] / total, rel=1e-12)
            dloss = 0.5 + n
            grad = backend.softmax_cross_entropy_backward(np.full(4, dloss), probs, target, ls)
            for j in range(6):
                assert grad[n, j] == pytest.approx(dloss * (exps[j] / total - row_target[j]), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_sum_to_one_and_labels_equal_onehot(backend, dtype):
    rng = np.random.default_rng(2)
    logits = (rng.standard_normal((50, 13)) * 10).astype(dtype)
    labels = rng.integers(0, 13, 50)
    onehot = np.eye(13, dtype=dtype)[labels]
    loss, probs = backend.softmax_cross_entropy_forward(logits, labels, 0.1)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=0, atol=8 * np.finfo(dtype).eps)
    assert (probs >= 0).all()
    loss_1h, probs_1h = backend.softmax_cross_entropy_forward(logits, onehot, 0.1)
    close(loss_1h, loss, 10.0)
    close(probs_1h, probs)
    dloss = rng.standard_normal(50).astype(dtype)
    close(backend.softmax_cross_entropy_backward(dloss, probs, onehot, 0.1),
          backend.softmax_cross_entropy_backward(dloss, probs, labels, 0.1))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_and_masked_logits(backend, dtype):
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, -np.inf], [-1e4, -1e4, -1e4]], dtype=dtype)
    labels = np.array([0, 1, 2])
    loss, probs = backend.softmax_cross_entropy_forward(logits, labels)
    assert np.isfinite(loss).all() and np.isfinite(probs).all()
    np.testing.assert_allclose(probs, [[1, 0, 0], [0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-6)
    np.testing.assert_allclose(loss, [0, math.log(2), math.log(3)], rtol=1e-6, atol=1e-6)
    onehot = np.eye(3, dtype=dtype)[labels]
    np.testing.assert_allclose(backend.softmax_cross_entropy_forward(logits, onehot)[0], loss, atol=1e-6)
    wrong = backend.softmax_cross_entropy_forward(logits[:1], np.array([2]))[0]
    assert wrong[0] == pytest.approx(2e4, rel=1e-6)  # no overflow, no cancellation
    masked = backend.softmax_cross_entropy_forward(logits[1:2], np.array([2]))[0]
    assert masked[0] == np.inf  # all the target's mass on a masked class


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["labels", "onehot", "soft"])
@pytest.mark.parametrize("ls", [0.0, 0.15])
def test_gradient(backend, kind, ls):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, 7)) * 2
    target = targets(rng, 5, 7, np.float64, kind)
    loss, probs = backend.softmax_cross_entropy_forward(logits, target, ls)
    dloss = rng.standard_normal(5)
    analytic = backend.softmax_cross_entropy_backward(dloss, probs, target, ls)
    numeric = numeric_grad(
        lambda a: float((backend.softmax_cross_entropy_forward(a[0], target, ls)[0] * dloss).sum()),
        [logits.copy()], 0)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- bad input

Z = np.zeros((4, 3), dtype=np.float32)
LABELS = np.array([0, 2, 1, 0])


def check_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert message.startswith("softmax_cross_entropy: "), message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("args, error, words", [
    ((Z[0], LABELS), ValueError, ["logits", "2 dimensions", "(3,)"]),
    ((Z.astype(np.int32), LABELS), TypeError, ["logits", "float32 or float64", "int32"]),
    ((Z[:, :0], LABELS), ValueError, ["at least one class", "(4, 0)"]),
    ((Z, LABELS[:3]), ValueError, ["target", "shape (4,)", "(3,)"]),
    ((Z, np.array([0, 3, 1, 0])), ValueError, ["target values in [0, 3)", "got 3"]),
    ((Z, np.array([0, -1, 1, 0])), ValueError, ["target values in [0, 3)", "got -1"]),
    ((Z, np.array([0, 2**40, 1, 0], dtype=np.uint64)), ValueError, ["got 1099511627776"]),
    ((Z, np.array([True, False, True, False])), TypeError, ["target", "integer labels", "bool"]),
    ((Z, np.zeros((4, 3), np.float64)), TypeError, ["logits' dtype float32", "float64"]),
    ((Z, np.zeros((4, 2), np.float32)), ValueError, ["target", "shape (4, 3)", "(4, 2)"]),
    ((Z, np.zeros((4, 3, 1), np.float32)), ValueError, ["target", "2 dimensions"]),
    ((Z, LABELS, -0.1), ValueError, ["label_smoothing in [0.0, 1.0]", "-0.1"]),
    ((Z, LABELS, 1.5), ValueError, ["label_smoothing", "1.5"]),
    ((Z, LABELS, float("nan")), ValueError, ["label_smoothing", "nan"]),
    ((Z, LABELS, None), TypeError, ["label_smoothing", "real number", "None"]),
])
def test_forward_bad_input(backend, args, error, words):
    check_error(lambda: backend.softmax_cross_entropy_forward(*args), error, words)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("args, error, words", [
    ((np.ones(3, np.float32), Z, LABELS), ValueError, ["dloss", "shape (4,)", "(3,)"]),
    ((np.ones((4, 1), np.float32), Z, LABELS), ValueError, ["dloss", "1 dimensions"]),
    ((np.ones(4, np.float64), Z, LABELS), TypeError, ["dloss=float64", "probs=float32"]),
    ((np.ones(4, np.float32), Z, np.array([0, 5, 1, 0])), ValueError, ["target values in [0, 3)", "got 5"]),
    ((np.ones(4, np.float32), Z, LABELS, 2.0), ValueError, ["label_smoothing", "2.0"]),
])
def test_backward_bad_input(backend, args, error, words):
    check_error(lambda: backend.softmax_cross_entropy_backward(*args), error, words)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch(backend):
    loss, probs = backend.softmax_cross_entropy_forward(Z[:0], LABELS[:0])
    assert loss.shape == (0,) and probs.shape == (0, 3)
    assert backend.softmax_cross_entropy_backward(loss, probs, LABELS[:0]).shape == (0, 3)
