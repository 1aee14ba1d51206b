"""Forward against NumPy and float64 gradient checks for every op in nnkit.ops."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnkit
from nnkit import Tensor, ops
from gradcheck import check_grad

rng = np.random.default_rng(42)


def away_from(x, points, margin=0.05):
    """Nudge values off the kinks of piecewise ops so finite differences are valid."""
    for p in points:
        close = np.abs(x - p) < margin
        x = np.where(close, p + 2 * margin * np.sign(x - p + 1e-12), x)
    return x


UNARY = {
    "exp": (ops.exp, np.exp, lambda s: rng.standard_normal(s)),
    "log": (ops.log, np.log, lambda s: rng.uniform(0.5, 2, s)),
    "sqrt": (ops.sqrt, np.sqrt, lambda s: rng.uniform(0.5, 2, s)),
    "abs": (ops.abs, np.abs, lambda s: away_from(rng.standard_normal(s), [0])),
    "square": (ops.square, np.square, lambda s: rng.standard_normal(s)),
    "relu": (ops.relu, lambda x: np.maximum(x, 0), lambda s: away_from(rng.standard_normal(s), [0])),
    "relu6": (ops.relu6, lambda x: np.clip(x, 0, 6), lambda s: away_from(rng.uniform(-2, 8, s), [0, 6])),
    "leaky_relu": (ops.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x),
                   lambda s: away_from(rng.standard_normal(s), [0])),
    "elu": (ops.elu, lambda x: np.where(x > 0, x, np.expm1(x)), lambda s: away_from(rng.standard_normal(s), [0])),
    "gelu": (ops.gelu, None, lambda s: rng.standard_normal(s) * 2),
    "sigmoid": (ops.sigmoid, lambda x: 1 / (1 + np.exp(-x)), lambda s: rng.standard_normal(s) * 3),
    "tanh": (ops.tanh, np.tanh, lambda s: rng.standard_normal(s)),
    "softplus": (ops.softplus, lambda x: np.log1p(np.exp(x)), lambda s: rng.standard_normal(s) * 3),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward_and_gradient(name):
    op, reference, sample = UNARY[name]
    x = sample((3, 4))
    if reference is not None:
        np.testing.assert_allclose(op(Tensor(x)).numpy(), reference(x), rtol=1e-12)
    check_grad(op, x)


def test_relu_of_a_scalar_tensor():
    x = Tensor(np.float32(-2.0), requires_grad=True)
    y = ops.relu(x)
    assert y.shape == () and float(y.data) == 0.0
    y.backward()
    assert x.grad.shape == () and float(x.grad) == 0.0
    z = Tensor(np.float64(3.0), requires_grad=True)
    ops.relu(z).backward()
    assert float(z.grad) == 1.0


def test_gelu_matches_erf_formula():
    from math import erf
    x = np.linspace(-4, 4, 17)
    expected = [v * 0.5 * (1 + erf(v / np.sqrt(2))) for v in x]
    np.testing.assert_allclose(ops.gelu(Tensor(x)).numpy(), expected, rtol=1e-12, atol=1e-15)


def test_stable_activations_at_extremes():
    x = Tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32), requires_grad=True)
    for op in (ops.sigmoid, ops.softplus, ops.tanh, ops.elu, ops.gelu):
        y = op(x)
        y.sum().backward()
        assert np.all(np.isfinite(y.numpy())), op.__name__
        assert np.all(np.isfinite(x.grad)), op.__name__
        x.zero_grad()
    np.testing.assert_allclose(ops.softplus(x).numpy()[[0, 4]], [0.0, 1000.0])


@pytest.mark.parametrize("op,reference", [
    (lambda a, b: a + b, np.add), (lambda a, b: a - b, np.subtract),
    (lambda a, b: a * b, np.multiply), (lambda a, b: a / b, np.divide),
    (ops.maximum, np.maximum), (ops.minimum, np.minimum),
])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((3, 4), ())])
def test_binary_broadcasting_gradients(op, reference, shapes):
    a = rng.standard_normal(shapes[0])
    b = rng.uniform(0.5, 2, shapes[1]) * rng.choice([-1, 1], shapes[1])
    np.testing.assert_allclose(op(Tensor(a), Tensor(b)).numpy(), reference(a, b))
    out = check_grad(op, a, b)
    assert out.shape == np.broadcast_shapes(a.shape, b.shape)


@settings(max_examples=25, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
def test_broadcast_gradients_reduce_to_input_shape(shapes):
    a, b = (np.random.default_rng(0).standard_normal(s) for s in shapes.input_shapes)
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    (ta * tb + ta).sum().backward()
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape

    def reduce_to(g, shape):  # independent of nnkit's unbroadcast: pad the shape, sum where it was 1
        padded = (1,) * (g.ndim - len(shape)) + tuple(shape)
        axes = tuple(i for i, n in enumerate(padded) if n == 1)
        return g.sum(axis=axes, keepdims=True).reshape(shape)

    full = shapes.result_shape
    np.testing.assert_allclose(ta.grad, reduce_to(np.broadcast_to(b + 1, full), a.shape))
    np.testing.assert_allclose(tb.grad, reduce_to(np.broadcast_to(a, full), b.shape))


def test_power_both_sides():
    a = rng.uniform(0.5, 2, (3, 2))
    b = rng.uniform(-1, 2, (3, 2))
    check_grad(lambda x, y: x ** y, a, b)
    check_grad(lambda x: x ** 3, a)
    check_grad(lambda x: 2.0 ** x, b)


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((2, 3, 4), (4, 5)),
                                   ((2, 3, 4), (2, 4, 2)), ((4,), (4,)), ((2, 1, 3, 4), (2, 1, 4, 5)),
                                   ((2, 3, 4), (1, 4, 2)), ((3, 4), (2, 4, 5)), ((2, 2, 3, 4), (4, 3))])
def test_matmul(sa, sb):
    """Every route: 2-D and folded stacks on the GEMM kernel, equal stacks on the batched kernel, broadcasts
    in NumPy."""
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    np.testing.assert_allclose((Tensor(a) @ Tensor(b)).numpy(), a @ b, rtol=1e-12)
    check_grad(lambda x, y: x @ y, a, b)


def test_matmul_float32_stacks_and_transposed_views():
    a = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    b = rng.standard_normal((2, 3, 6, 4)).astype(np.float32)
    bt = np.swapaxes(b, -1, -2)  # a strided view, as attention's keys are
    ta, tb = Tensor(a, requires_grad=True), Tensor(bt, requires_grad=True)
    out = ta @ tb
    np.testing.assert_allclose(out.numpy(), a @ bt, rtol=1e-5, atol=1e-6)
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    np.testing.assert_allclose(ta.grad, g @ np.swapaxes(bt, -1, -2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tb.grad, np.swapaxes(a, -1, -2) @ g, rtol=1e-5, atol=1e-5)


def test_matmul_shape_error():
    with pytest.raises(ValueError, match=r"matmul.*\(3, 4\) @ \(5, 2\)"):
        Tensor(np.zeros((3, 4))) @ Tensor(np.zeros((5, 2)))


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(op, axis, keepdims):
    x = rng.standard_normal((3, 4, 2))
    got = getattr(ops, op)(Tensor(x), axis=axis, keepdims=keepdims).numpy()
    np.testing.assert_allclose(got, getattr(np, op)(x, axis=axis, keepdims=keepdims))
    check_grad(lambda t: getattr(ops, op)(t, axis=axis, keepdims=keepdims), x)


def test_max_ties_share_gradient():
    x = Tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0, 0.5, 0.5])


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_family(axis):
    x = rng.standard_normal((4, 5)) * 3
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    sm = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(ops.softmax(Tensor(x), axis).numpy(), sm)
    np.testing.assert_allclose(ops.softmax(Tensor(x), axis).numpy().sum(axis=axis), 1)
    np.testing.assert_allclose(ops.log_softmax(Tensor(x), axis).numpy(), np.log(sm))
    np.testing.assert_allclose(ops.logsumexp(Tensor(x), axis).numpy(), np.log(np.exp(x).sum(axis=axis)))
    check_grad(lambda t: ops.softmax(t, axis), x)
    check_grad(lambda t: ops.log_softmax(t, axis), x)
    check_grad(lambda t: ops.logsumexp(t, axis), x)
    check_grad(lambda t: ops.logsumexp(t, axis, keepdims=True), x)
    check_grad(lambda t: ops.logsumexp(t), x)


def test_log_softmax_huge_logits_finite():
    x = Tensor(np.array([[1e4, 0.0, -1e4]], dtype=np.float32), requires_grad=True)
    y = ops.log_softmax(x)
    y.sum().backward()
    assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(x.grad))
    assert np.isfinite(ops.logsumexp(x).item())


def test_clip_and_where():
    x = away_from(rng.uniform(-2, 2, (3, 4)), [-1, 1])
    check_grad(lambda t: ops.clip(t, -1, 1), x)
    check_grad(lambda t: ops.clip(t, min=0.5), x + 0.01)
    cond = x > 0
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    np.testing.assert_allclose(ops.where(cond, Tensor(a), Tensor(b)).numpy(), np.where(cond, a, b))
    check_grad(lambda s, t: ops.where(cond, s, t), a, b)
    with pytest.raises(ValueError, match="clip"):
        ops.clip(Tensor(x))


def test_shape_ops():
    x = rng.standard_normal((2, 3, 4))
    check_grad(lambda t: t.reshape(4, 6), x)
    check_grad(lambda t: t.reshape((-1,)), x)
    check_grad(lambda t: t.transpose(2, 0, 1), x)
    check_grad(lambda t: t.T, x)
    np.testing.assert_array_equal(Tensor(x).transpose(2, 0, 1).numpy(), x.transpose(2, 0, 1))
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3, 4\).*\(5, 5\)"):
        Tensor(x).reshape(5, 5)


@pytest.mark.parametrize("index", [
    1, slice(None, None, 2), (slice(None), 1), (Ellipsis, slice(1, 3)), np.array([0, 0, 1]),
    (np.array([0, 1, 1]), np.array([2, 2, 0])), np.s_[::-1, 1:, None],
])
def test_indexing_scatters_back(index):
    x = rng.standard_normal((2, 3, 4))
    np.testing.assert_array_equal(Tensor(x)[index].numpy(), x[index])
    check_grad(lambda t: t[index], x)


def test_boolean_mask_index():
    x = rng.standard_normal((3, 4))
    mask = x > 0
    check_grad(lambda t: t[mask], x)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(axis):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_array_equal(ops.concatenate([Tensor(a), Tensor(b)], axis).numpy(), np.concatenate([a, b], axis))
    np.testing.assert_array_equal(ops.stack([Tensor(a), Tensor(b)], axis).numpy(), np.stack([a, b], axis))
    check_grad(lambda s, t: ops.concatenate([s, t, s], axis), a, b)
    check_grad(lambda s, t: ops.stack([s, t], axis), a, b)
    with pytest.raises(ValueError, match="stack"):
        ops.stack([Tensor(a), Tensor(np.zeros((3, 3)))])
    with pytest.raises(ValueError, match="concatenate"):
        ops.concatenate([Tensor(a), Tensor(np.zeros((3, 4)))], axis=0)


def test_comparisons_return_bool_without_gradient():
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    for result, expected in [(a < 2, [1, 0, 0]), (a <= 2, [1, 1, 0]), (a > 2, [0, 0, 1]),
                             (a >= 2, [0, 1, 1]), (a == 2, [0, 1, 0]), (a != 2, [1, 0, 1])]:
        assert result.dtype == np.bool_ and not result.requires_grad
        np.testing.assert_array_equal(result.numpy(), np.array(expected, bool))


def test_custom_loss_from_ops_trains():
    """A loss written only with nnkit.ops needs no gradient code of its own."""
    data = np.random.default_rng(1)
    x = data.standard_normal((64, 3))
    y = (x @ np.array([1.0, -2.0, 0.5]) > 0).astype(np.float64)
    w = Tensor(np.zeros(3), requires_grad=True)

    def loss_fn():
        logits = Tensor(x) @ w
        # binary cross-entropy from logits, stable form: softplus(z) - y*z
        return ops.mean(ops.softplus(logits) - Tensor(y) * logits)

    first = loss_fn().item()
    for _ in range(100):
        loss = loss_fn()
        w.zero_grad()
        loss.backward()
        w.data -= 0.5 * w.grad
    assert loss_fn().item() < 0.5 * first
