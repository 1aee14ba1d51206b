"""Fused angular-margin softmax cross-entropy: both backends against a naive
float64 oracle written from the margins' definitions (with arccos), gradients
by central differences, the cos = +-1 edges in both dtypes, ArcFace's
monotone target logit, Cython against the reference, and every validation rule."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit.backend.cython import margin_xent as cy
from nnkit.backend.reference import margin_xent as ref

BACKENDS = [pytest.param(ref, id="reference"), pytest.param(cy, id="cython")]
M = 0.5
# name -> (kernel arguments, the definition of z(theta))
MARGINS = {
    "normalized": (dict(margin="combined"), lambda t: math.cos(t)),
    "cosface": (dict(margin="combined", m3=0.35), lambda t: math.cos(t) - 0.35),
    "arcface": (dict(margin="arcface", m2=M),
                lambda t: math.cos(t + M) if t + M <= math.pi else math.cos(t) - M * math.sin(M)),
    "arcface_easy": (dict(margin="arcface_easy", m2=M), lambda t: math.cos(t + M) if math.cos(t) > 0 else math.cos(t)),
    "sphereface": (dict(margin="sphereface", m1=4),
                   lambda t: (-1) ** math.floor(4 * t / math.pi) * math.cos(4 * t) - 2 * math.floor(4 * t / math.pi)),
    "combined": (dict(margin="combined", m1=0.9, m2=0.4, m3=0.15), lambda t: math.cos(0.9 * t + 0.4) - 0.15),
}
# target cosines on both sides of 0 and of ArcFace's threshold cos(pi - m), away from every branch point
TARGETS = np.array([-0.97, -math.cos(M) - 0.02, -math.cos(M) + 0.02, -0.3, -0.04, 0.04, 0.3, 0.75, 0.97])


def oracle_loss(cosines, labels, s, z_of_theta):
    """Per-row loss from the definition: -log softmax(s * logits)[label], logits with z at the label."""
    out = np.empty(len(labels))
    for i, (row, y) in enumerate(zip(cosines.astype(np.float64), labels)):
        logits = s * row.copy()
        logits[y] = s * z_of_theta(math.acos(min(max(row[y], -1.0), 1.0)))
        top = logits.max()
        out[i] = top + math.log(np.exp(logits - top).sum()) - logits[y]
    return out


def oracle_grad(cosines, labels, s, z_of_theta, h=1e-6):
    """Central differences of the oracle's loss with respect to every cosine (float64)."""
    grad = np.zeros_like(cosines, dtype=np.float64)
    for i in range(cosines.shape[0]):
        for k in range(cosines.shape[1]):
            plus, minus = cosines.astype(np.float64), cosines.astype(np.float64)
            plus[i, k] += h
            minus[i, k] -= h
            grad[i, k] = (oracle_loss(plus[i:i + 1], labels[i:i + 1], s, z_of_theta)[0]
                          - oracle_loss(minus[i:i + 1], labels[i:i + 1], s, z_of_theta)[0]) / (2 * h)
    return grad


def straddling_rows(k=6, seed=0):
    rng = np.random.default_rng(seed)
    n = len(TARGETS)
    cosines = rng.uniform(-0.9, 0.9, (n, k))
    labels = rng.integers(0, k, n)
    cosines[np.arange(n), labels] = TARGETS
    return cosines, labels


# ----------------------------------------------------------------------------- against the definitions

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(MARGINS))
def test_loss_and_gradient_match_the_definition(backend, name):
    kwargs, z = MARGINS[name]
    cosines, labels = straddling_rows()
    s = 8.0
    loss, grad = backend.margin_cross_entropy_forward(cosines, labels, s, **kwargs)
    np.testing.assert_allclose(loss, oracle_loss(cosines, labels, s, z), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, oracle_grad(cosines, labels, s, z), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(MARGINS))
def test_float32_matches_float64(backend, name):
    kwargs, _ = MARGINS[name]
    cosines, labels = straddling_rows()
    loss64, grad64 = backend.margin_cross_entropy_forward(cosines, labels, 30.0, **kwargs)
    loss32, grad32 = backend.margin_cross_entropy_forward(cosines.astype(np.float32), labels, 30.0, **kwargs)
    assert loss32.dtype == grad32.dtype == np.float32
    np.testing.assert_allclose(loss32, loss64, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_scales_each_row(backend):
    cosines, labels = straddling_rows()
    _, grad = backend.margin_cross_entropy_forward(cosines, labels, 16.0, margin="arcface", m2=M)
    dloss = np.linspace(-1, 2, len(labels))
    np.testing.assert_array_equal(backend.margin_cross_entropy_backward(dloss, grad), dloss[:, None] * grad)


def test_gradient_rows_sum_like_a_softmax():
    """Without a margin the gradient is s * (softmax - onehot): each row sums to 0."""
    cosines, labels = straddling_rows(k=50)
    _, grad = cy.margin_cross_entropy_forward(cosines, labels, 30.0)
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-12)


# ----------------------------------------------------------------------------- cos(theta) = +-1

EDGE_DERIVATIVE = {  # dz/dc at c = +1 and c = -1: the true one-sided values where finite
    "normalized": (1.0, 1.0), "cosface": (1.0, 1.0),
    "arcface": (None, 1.0),         # c = -1 takes the fallback branch c - m sin m
    "arcface_easy": (None, 1.0),    # c = -1 <= 0 takes c itself
    "sphereface": (16.0, 16.0),     # m^2 at both ends (theta = pi ends the piece k = m - 1)
    "combined": (None, None),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(MARGINS))
def test_cosine_at_plus_minus_one(backend, name, dtype):
    """Rows whose target cosine is exactly +-1 (an embedding on its class centre, or opposite it):
    finite, correct loss; finite gradient, equal to the true one-sided derivative where that is finite
    and to the derivative at the neighbouring representable cosine where it is infinite."""
    kwargs, z = MARGINS[name]
    s = 4.0  # an unsaturated softmax, so that the label's gradient shows dz
    cosines = np.array([[1.0, 0.2, -0.5], [-1.0, 0.2, -0.5], [0.3, 1.0, 1.0], [0.3, -1.0, -1.0]], dtype=dtype)
    labels = np.array([0, 0, 1, 2])
    loss, grad = backend.margin_cross_entropy_forward(cosines, labels, s, **kwargs)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    expected = oracle_loss(cosines, labels, s, z)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(loss, expected, rtol=tol, atol=tol)
    dz = grad[0, 0] / (grad[0, 1:].sum() * -1), grad[1, 0] / (grad[1, 1:].sum() * -1)  # s (p_y - 1) dz / s (p_y - 1)
    near = np.nextafter(dtype(1), dtype(0))
    for value, got, end in zip(EDGE_DERIVATIVE[name], dz, (near, -near)):
        if value is None:  # infinite there: the kernel gives its value at the neighbouring cosine
            _, grad_near = backend.margin_cross_entropy_forward(
                np.array([[end, 0.2, -0.5]], dtype=dtype), labels[:1], s, **kwargs)
            value = grad_near[0, 0] / -grad_near[0, 1:].sum()
            assert abs(value) > 10  # it really is the steep end
        # m1 != 1 also moves cos(m1 theta) and sin(m1 theta) by theta's step, 3.5e-4 rad in float32
        rtol = 1e-2 if name == "combined" else 1e-4 if dtype == np.float32 else 1e-9
        np.testing.assert_allclose(got, value, rtol=rtol)


@pytest.mark.parametrize("name", ["sphereface", "arcface", "arcface_easy", "cosface"])
def test_edge_derivatives_are_the_one_sided_limits(name):
    """The finite edge derivatives above against one-sided differences of the definition."""
    _, z = MARGINS[name]
    h = 1e-7
    plus, minus = EDGE_DERIVATIVE[name]
    if plus is not None:
        assert (z(0.0) - z(math.acos(1 - h))) / h == pytest.approx(plus, rel=1e-5)
    assert (z(math.acos(-1 + h)) - z(math.pi)) / h == pytest.approx(minus, rel=1e-5)


def test_cosines_past_one_by_rounding_are_clamped():
    c = np.array([[1.0 + 1e-6, 0.0], [-1.0 - 1e-6, 0.0]])
    for backend in (ref, cy):
        loss, grad = backend.margin_cross_entropy_forward(c, np.array([0, 0]), 30.0, margin="arcface", m2=M)
        clamped, _ = backend.margin_cross_entropy_forward(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([0, 0]),
                                                          30.0, margin="arcface", m2=M)
        assert np.all(np.isfinite(grad))
        np.testing.assert_allclose(loss, clamped, rtol=1e-12)


# ----------------------------------------------------------------------------- monotonicity

@pytest.mark.parametrize("m", [0.2, 0.5, 1.0, math.pi / 2])
def test_arcface_target_logit_decreases_with_theta(m):
    theta = np.linspace(0, math.pi, 20001)
    z, dz = ref.target_logit(np.cos(theta), ref.MARGINS["arcface"], m2=m)
    assert np.all(np.diff(z) < 0)
    assert np.all(dz[1:-1] >= -1e-12)  # dz/dc >= 0 <=> z decreasing in theta
    # and so the kernel's loss rises with theta (one other class at a fixed cosine)
    cosines = np.stack([np.cos(theta), np.full_like(theta, 0.1)], axis=1)
    loss, _ = cy.margin_cross_entropy_forward(cosines, np.zeros(len(theta), np.int64), 64.0, margin="arcface", m2=m)
    assert np.all(np.diff(loss) >= 0) and loss[-1] > loss[0]


def test_sphereface_psi_is_continuous_and_decreasing():
    theta = np.linspace(0, math.pi, 20001)
    for m in (1, 2, 3, 4):
        z, _ = ref.target_logit(np.cos(theta), ref.MARGINS["sphereface"], m1=m)
        assert np.all(np.diff(z) < 0)
        assert np.max(np.abs(np.diff(z))) < 1e-2


# ----------------------------------------------------------------------------- Cython == reference

def non_contiguous(x):
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    wide[..., ::2] = x
    return wide[..., ::2]


@st.composite
def cases(draw):
    n, k = draw(st.integers(0, 30)), draw(st.integers(1, 40))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cosines = rng.uniform(-1, 1, (n, k)).astype(dtype)
    labels = rng.integers(0, k, n).astype(draw(st.sampled_from([np.int64, np.int32, np.int16])))
    if n:  # some exact edges
        edges = rng.random(n) < 0.2
        cosines[edges, labels[edges]] = rng.choice([-1, 1], edges.sum())
    name = draw(st.sampled_from(list(MARGINS)))
    s = draw(st.sampled_from([1.0, 30.0, 64.0, 500.0]))
    return cosines, labels, s, MARGINS[name][0], draw(st.booleans())


@settings(max_examples=60, deadline=None)
@given(cases())
def test_cython_matches_reference(case):
    cosines, labels, s, kwargs, contiguous = case
    if not contiguous:
        cosines = non_contiguous(cosines)
    loss_r, grad_r = ref.margin_cross_entropy_forward(cosines, labels, s, **kwargs)
    loss_c, grad_c = cy.margin_cross_entropy_forward(cosines, labels, s, **kwargs)
    eps = np.finfo(cosines.dtype).eps
    assert loss_c.dtype == grad_c.dtype == cosines.dtype
    # every quantity is O(s) at most; the label's gradient is s * dz, dz up to 1 / sin_floor
    np.testing.assert_allclose(loss_c, loss_r, rtol=64 * eps, atol=64 * eps * s)
    np.testing.assert_allclose(grad_c, grad_r, rtol=64 * eps, atol=64 * eps * s)
    dloss = np.linspace(0.5, 1.5, len(labels)).astype(cosines.dtype)
    np.testing.assert_allclose(cy.margin_cross_entropy_backward(dloss, grad_c),
                               ref.margin_cross_entropy_backward(dloss, grad_c), rtol=eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_rows_match_reference(dtype):
    """Large enough for the OpenMP team (N * K above the kernel's parallel threshold)."""
    rng = np.random.default_rng(3)
    cosines = rng.uniform(-1, 1, (64, 2000)).astype(dtype)
    labels = rng.integers(0, 2000, 64)
    loss_r, grad_r = ref.margin_cross_entropy_forward(cosines, labels, 64.0, margin="arcface", m2=M)
    loss_c, grad_c = cy.margin_cross_entropy_forward(cosines, labels, 64.0, margin="arcface", m2=M)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(loss_c, loss_r, rtol=64 * eps, atol=64 * 64 * eps)
    np.testing.assert_allclose(grad_c, grad_r, rtol=64 * eps, atol=64 * 64 * eps)


def test_one_class_and_extreme_scale():
    """K = 1: the loss is 0; a huge s on a dominant target underflows nothing into inf or NaN."""
    for backend in (ref, cy):
        loss, grad = backend.margin_cross_entropy_forward(np.array([[0.3]]), np.array([0]), 30.0,
                                                          margin="arcface", m2=M)
        assert loss[0] == 0 and grad[0, 0] == 0
        c = np.array([[1.0] + [-1.0] * 9], dtype=np.float32)
        loss, grad = backend.margin_cross_entropy_forward(c, np.array([0]), 1e4, margin="arcface", m2=1.5)
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad)) and loss[0] == 0


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kwargs, error, words", [
    (dict(labels=np.array([0, 3])), ValueError, ["labels", "[0, 3)", "3"]),
    (dict(labels=np.array([0, -1])), ValueError, ["labels", "-1"]),
    (dict(labels=np.array([0.0, 1.0])), TypeError, ["labels", "integer", "float64"]),
    (dict(labels=np.array([0, 1, 2])), ValueError, ["labels", "(2,)", "(3,)"]),
    (dict(s=0.0), ValueError, ["s", "(0", "0.0"]),
    (dict(s=-3.0), ValueError, ["s", "-3.0"]),
    (dict(s=float("inf")), ValueError, ["s", "inf"]),
    (dict(s=float("nan")), ValueError, ["s", "nan"]),
    (dict(s="big"), TypeError, ["s", "'big'"]),
    (dict(margin="arcface", m2=2.0), ValueError, ["m2", "2.0"]),
    (dict(margin="arcface", m2=-0.1), ValueError, ["m2", "-0.1"]),
    (dict(margin="combined", m3=1.5), ValueError, ["m3", "1.5"]),
    (dict(margin="sphereface", m1=2.5), ValueError, ["sphereface", "integer", "2.5"]),
    (dict(margin="arcface", m1=2.0, m2=0.5), ValueError, ["arcface", "m1"]),
    (dict(margin="sphereface", m1=4, m2=0.5), ValueError, ["sphereface", "m2"]),
    (dict(margin="angular"), ValueError, ["margin", "'angular'", "arcface"]),
    (dict(cosines=np.array([[3.0, 0.1], [0.2, 0.1]])), ValueError, ["[-1, 1]", "NormalizedDense", "3.0", "row 0"]),
    (dict(cosines=np.zeros((2, 3), np.int64)), TypeError, ["cosines", "float32 or float64", "int64"]),
    (dict(cosines=np.zeros(3)), ValueError, ["cosines", "2 dimensions", "(3,)"]),
    (dict(cosines=np.zeros((2, 0))), ValueError, ["cosines", "at least one class", "(2, 0)"]),
])
def test_bad_forward_input(backend, kwargs, error, words):
    args = dict(cosines=np.zeros((2, 3)), labels=np.array([0, 1]), s=30.0)
    args.update(kwargs)
    with pytest.raises(error) as info:
        backend.margin_cross_entropy_forward(**args)
    message = str(info.value)
    assert message.startswith("margin_cross_entropy:")
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_backward_input(backend):
    grad = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"margin_cross_entropy: expected dloss to have shape \(2,\), got \(3,\)"):
        backend.margin_cross_entropy_backward(np.zeros(3), grad)
    with pytest.raises(TypeError, match="margin_cross_entropy: all inputs must share one dtype"):
        backend.margin_cross_entropy_backward(np.zeros(2, np.float32), grad)
