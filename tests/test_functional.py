"""nnkit.functional: geometry resolution, gradient checks through the active
backend, both backends agreeing, bad input, and an end-to-end CNN that learns."""
import numpy as np
import pytest

import nnkit
from nnkit import Tensor, ops
from nnkit import functional as F
from gradcheck import check_grad

rng = np.random.default_rng(7)
BACKENDS = ["cython", "numpy"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    previous = nnkit.get_backend()
    nnkit.set_backend(request.param)
    yield request.param
    nnkit.set_backend(previous)


@pytest.mark.parametrize("size,k,s,d,expected", [
    (5, 3, 1, 1, (1, 1)), (5, 3, 2, 1, (1, 1)), (6, 3, 2, 1, (0, 1)), (7, 1, 1, 1, (0, 0)),
    (6, 2, 2, 1, (0, 0)), (5, 3, 1, 2, (2, 2)), (4, 4, 1, 1, (1, 2)),
])
def test_same_padding_matches_keras(size, k, s, d, expected):
    pads = F.resolve_padding("conv2d", "same", (size, size), (k, k), (s, s), (d, d))
    assert pads == (expected, expected)
    out = (size + sum(expected) - (k - 1) * d - 1) // s + 1
    assert out == -(-size // s)


def test_padding_forms():
    assert F.resolve_padding("op", "valid", (5, 5), (3, 3), (1, 1)) == ((0, 0), (0, 0))
    assert F.resolve_padding("op", 2, (5, 5), (3, 3), (1, 1)) == ((2, 2), (2, 2))
    assert F.resolve_padding("op", (1, 2), (5, 5), (3, 3), (1, 1)) == ((1, 1), (2, 2))
    assert F.resolve_padding("op", ((0, 1), (2, 3)), (5, 5), (3, 3), (1, 1)) == ((0, 1), (2, 3))
    with pytest.raises(ValueError, match="conv2d: unknown padding 'full'.*'valid', 'same'"):
        F.conv2d(np.zeros((1, 5, 5, 1), np.float32), np.zeros((3, 3, 1, 1), np.float32), padding="full")


@pytest.mark.parametrize("strides,padding,dilation,groups", [
    (1, "valid", 1, 1), (2, "same", 1, 1), ((1, 2), 1, 2, 1), (1, "same", 1, 2), (2, ((0, 1), (1, 0)), 1, 4),
])
def test_conv2d_gradients(backend, strides, padding, dilation, groups):
    x = rng.standard_normal((2, 6, 5, 4))
    w = rng.standard_normal((3, 3, 4 // groups, 4))
    b = rng.standard_normal(4)
    check_grad(lambda x, w, b: F.conv2d(x, w, b, strides, padding, dilation, groups), x, w, b)
    check_grad(lambda x, w: F.conv2d(x, w, None, strides, padding, dilation, groups), x, w)


@pytest.mark.parametrize("pool,strides,padding", [(2, None, "valid"), (3, 2, "same"), (3, 1, 1), ((2, 3), (1, 2), "valid")])
def test_pool_gradients(backend, pool, strides, padding):
    x = rng.permutation(2 * 6 * 7 * 3).reshape(2, 6, 7, 3) / 10.0  # distinct values: no max ties
    check_grad(lambda t: F.max_pool2d(t, pool, strides, padding), x)
    check_grad(lambda t: F.avg_pool2d(t, pool, strides, padding), x)
    check_grad(F.global_avg_pool2d, x)
    check_grad(F.global_max_pool2d, x)


def test_linear_gradients_and_shapes():
    x, w, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    np.testing.assert_allclose(F.linear(Tensor(x), Tensor(w), Tensor(b)).numpy(), x @ w + b)
    check_grad(F.linear, x, w, b)
    check_grad(F.linear, x[0], w)
    with pytest.raises(ValueError, match=r"linear: input has 3 features \(shape \(2, 3\)\) but the weight expects 4"):
        F.linear(np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"linear: expected bias of shape \(5,\), got \(4,\)"):
        F.linear(np.zeros((2, 4), np.float32), np.zeros((4, 5), np.float32), np.zeros(4, np.float32))


def test_fused_relu_linear_equals_linear_then_relu(backend):
    # Random pre-activations lie within the gradient check's 1e-6 step of the kink with negligible chance.
    x, w, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    fused = F.linear(Tensor(x), Tensor(w), Tensor(b), activation="relu").numpy()
    np.testing.assert_allclose(fused, np.maximum(x @ w + b, 0))
    check_grad(lambda x, w, b: F.linear(x, w, b, activation="relu"), x, w, b)
    check_grad(lambda x, w: F.linear(x, w, activation="relu"), x[0], w)


@pytest.mark.parametrize("strides,padding,groups", [(1, "same", 1), (2, "valid", 2)])
def test_fused_relu_conv2d_equals_conv2d_then_relu(backend, strides, padding, groups):
    x = rng.standard_normal((2, 6, 5, 4))
    w = rng.standard_normal((3, 3, 4 // groups, 4))
    b = rng.standard_normal(4)
    plain = F.conv2d(x, w, b, strides, padding, groups=groups).numpy()
    np.testing.assert_allclose(F.conv2d(x, w, b, strides, padding, groups=groups, activation="relu").numpy(),
                               np.maximum(plain, 0))
    check_grad(lambda x, w, b: F.conv2d(x, w, b, strides, padding, groups=groups, activation="relu"), x, w, b)
    check_grad(lambda x, w: F.conv2d(x, w, None, strides, padding, groups=groups, activation="relu"), x, w)


def test_cached_argument_checks_do_not_depend_on_earlier_calls():
    """Geometry checks are memoised per call; a bool or float argument is never served an int's answer."""
    x, w = np.zeros((1, 5, 5, 2), np.float32), np.zeros((3, 3, 2, 2), np.float32)
    for _ in range(2):
        F.conv2d(x, w, groups=1)
        with pytest.raises(TypeError, match="conv2d: expected groups to be an integer, got True"):
            F.conv2d(x, w, groups=True)
        with pytest.raises(TypeError, match=r"conv2d: expected groups to be an integer, got 1.0 \(a float\)"):
            F.conv2d(x, w, groups=1.0)
    from nnkit.backend.cython import conv as cy
    cy.conv2d_forward(x, w, None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    with pytest.raises(TypeError, match=r"conv2d: expected groups to be an integer, got 1.0 \(a float\)"):
        cy.conv2d_forward(x, w, None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1.0)
    with pytest.raises(ValueError, match="conv2d: expected groups to be a positive integer below 2\\*\\*62, got 0"):
        F.conv2d(x, w, groups=0)


def test_fused_relu_on_a_winograd_conv(backend):
    """16 channels and filters, 3x3, stride 1: the Cython backend runs Winograd, then the fused epilogue."""
    x = rng.standard_normal((1, 4, 5, 16))
    w = rng.standard_normal((3, 3, 16, 16)) * 0.3
    b = rng.standard_normal(16)
    plain = F.conv2d(x, w, b, padding="same").numpy()
    np.testing.assert_allclose(F.conv2d(x, w, b, padding="same", activation="relu").numpy(), np.maximum(plain, 0),
                               rtol=1e-12, atol=1e-12)
    check_grad(lambda x, w, b: F.conv2d(x, w, b, padding="same", activation="relu"), x, w, b)


def test_fused_activation_must_be_relu_or_none():
    x, w = np.zeros((2, 4), np.float32), np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match="linear: the fused activation must be None or 'relu', got 'tanh'"):
        F.linear(x, w, activation="tanh")
    with pytest.raises(ValueError, match="conv2d: the fused activation must be None or 'relu', got 'gelu'"):
        F.conv2d(np.zeros((1, 5, 5, 1), np.float32), np.zeros((3, 3, 1, 1), np.float32), activation="gelu")


def test_batch_norm_train_and_running_stats(backend):
    x = rng.standard_normal((8, 3, 3, 4)) * 2 + 1
    gamma, beta = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    mean, var = np.zeros(4), np.ones(4)
    y = F.batch_norm(Tensor(x), Tensor(gamma), Tensor(beta), mean, var, training=True, momentum=0.9, eps=1e-3)
    flat = x.reshape(-1, 4)
    expected = (flat - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-3) * gamma + beta
    np.testing.assert_allclose(y.numpy().reshape(-1, 4), expected, rtol=1e-10)
    np.testing.assert_allclose(mean, 0.1 * flat.mean(0), rtol=1e-10)
    np.testing.assert_allclose(var, 0.9 + 0.1 * flat.var(0), rtol=1e-10)
    check_grad(lambda t, g, b: F.batch_norm(t, g, b, np.zeros(4), np.ones(4), training=True), x, gamma, beta)
    inference = F.batch_norm(Tensor(x), Tensor(gamma), Tensor(beta), mean, var, training=False)
    np.testing.assert_allclose(inference.numpy(), (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-10)
    check_grad(lambda t, g, b: F.batch_norm(t, g, b, mean, var, training=False), x, gamma, beta)


def test_batch_norm_shape_error():
    with pytest.raises(ValueError, match=r"batch_norm: expected gamma of shape \(4,\) for input \(2, 4\), got \(3,\)"):
        F.batch_norm(np.zeros((2, 4)), np.ones(3), np.zeros(4), np.zeros(4), np.ones(4), training=True)


def test_dropout_is_inverted_seeded_and_off_in_inference():
    x = Tensor(np.ones((200, 50), np.float32), requires_grad=True)
    nnkit.set_seed(3)
    a = F.dropout(x, 0.3)
    nnkit.set_seed(3)
    b = F.dropout(x, 0.3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    kept = a.numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(a.numpy()[kept], 1 / 0.7, rtol=1e-6)
    a.sum().backward()
    np.testing.assert_allclose(x.grad, a.numpy())
    assert F.dropout(x, 0.3, training=False) is x
    with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\), got 1.0"):
        F.dropout(x, 1.0)


@pytest.mark.parametrize("onehot", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy(backend, onehot, smoothing):
    logits = rng.standard_normal((5, 4)) * 3
    labels = rng.integers(0, 4, 5)
    target = np.eye(4)[labels] if onehot else labels
    smoothed = np.eye(4)[labels] * (1 - smoothing) + smoothing / 4
    expected = -(smoothed * (logits - np.log(np.exp(logits).sum(1, keepdims=True)))).sum(1)
    got = F.softmax_cross_entropy(Tensor(logits), target, smoothing, reduction="none")
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    assert F.softmax_cross_entropy(Tensor(logits), target, smoothing).item() == pytest.approx(expected.mean())
    check_grad(lambda t: F.softmax_cross_entropy(t, target, smoothing, reduction="sum"), logits)


def test_losses_bad_input():
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: expected logits of shape \(batch, classes\)"):
        F.softmax_cross_entropy(np.zeros(4), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="softmax_cross_entropy: unknown reduction 'avg'"):
        F.softmax_cross_entropy(np.zeros((2, 3)), np.zeros(2, np.int64), reduction="avg")
    with pytest.raises(ValueError, match=r"mse: .* same shape .* \(4, 1\) and \(4,\)"):
        F.mse(np.zeros((4, 1)), np.zeros(4))
    check_grad(lambda p, t: F.mse(p, t), rng.standard_normal((3, 2)), rng.standard_normal((3, 2)))


@pytest.mark.parametrize("call,pattern", [
    (lambda: F.conv2d(np.zeros((5, 5, 1), np.float32), np.zeros((3, 3, 1, 1), np.float32)), r"conv2d: expected a 4-D"),
    (lambda: F.conv2d(np.zeros((1, 5, 5, 1), np.float32), np.zeros((3, 3, 1), np.float32)), r"conv2d: expected a 4-D kernel"),
    (lambda: F.conv2d(np.zeros((1, 5, 5, 1), np.float32), np.zeros((3, 3, 1, 1), np.float32), strides=0), r"conv2d: .*strides"),
    (lambda: F.conv2d(np.zeros((1, 5, 5, 1), np.float32), np.zeros((3, 3, 1, 1), np.float32), dilation=-1), r"conv2d: .*dilation"),
    (lambda: F.conv2d(np.zeros((1, 5, 5, 1), np.float32), np.zeros((3, 3, 1, 1), np.float32), groups=0), r"conv2d: .*groups"),
    (lambda: F.max_pool2d(np.zeros((1, 5, 5, 1), np.float32), pool_size=0), r"max_pool2d: .*pool_size"),
    (lambda: F.avg_pool2d(np.zeros((5, 5, 1), np.float32)), r"avg_pool2d: expected a 4-D"),
    (lambda: F.global_avg_pool2d(np.zeros((5, 1), np.float32)), r"global_avg_pool2d: expected a 4-D"),
])
def test_functional_bad_input(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_backends_agree_on_a_small_network():
    x = rng.standard_normal((4, 8, 8, 3)).astype(np.float32)
    w1 = (rng.standard_normal((3, 3, 3, 8)) * 0.3).astype(np.float32)
    w2 = (rng.standard_normal((32, 5)) * 0.3).astype(np.float32)
    labels = np.array([0, 1, 2, 3])
    results = {}
    for name in BACKENDS:
        nnkit.set_backend(name)
        tw1, tw2 = Tensor(w1, requires_grad=True), Tensor(w2, requires_grad=True)
        h = F.max_pool2d(ops.relu(F.conv2d(x, tw1, padding="same")), 4)
        loss = F.softmax_cross_entropy(F.linear(h.reshape(4, -1), tw2), labels)
        loss.backward()
        results[name] = (loss.item(), tw1.grad, tw2.grad)
    nnkit.set_backend("cython")
    for a, b in zip(results["cython"], results["numpy"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_set_backend_rejects_unknown_name():
    with pytest.raises(ValueError, match=r"set_backend: unknown backend 'torch'; valid choices: \['cython', 'numpy'\]"):
        nnkit.set_backend("torch")


def test_thread_control():
    from threadpoolctl import threadpool_info

    before = nnkit.get_num_threads()
    try:
        for n in (1, 2):
            nnkit.set_num_threads(n)
            assert nnkit.get_num_threads() == n
            from nnkit._ext import threads
            assert threads.get_num_threads() == n
            # one pool: the kernels' OpenMP threads; the BLAS pools stay single-threaded
            assert all(info["num_threads"] == 1 for info in threadpool_info() if info["user_api"] == "blas")
    finally:
        nnkit.set_num_threads(before)
    for bad in (0, -2, 1.5, "2", True):
        with pytest.raises(ValueError, match="set_num_threads: expected a positive integer"):
            nnkit.set_num_threads(bad)


def test_small_cnn_trains_end_to_end():
    """A CNN written only with nnkit.functional and Tensor learns a synthetic task."""
    data = np.random.default_rng(0)
    n = 128
    x = data.standard_normal((n, 8, 8, 1)).astype(np.float32) * 0.1
    y = data.integers(0, 2, n)
    x[y == 1, 2:6, 2:6, 0] += 1.0  # class 1: a bright square in the middle
    params = [Tensor(data.standard_normal(s).astype(np.float32) * 0.3, requires_grad=True)
              for s in [(3, 3, 1, 4), (4,), (16, 2), (2,)]]
    w1, b1, w2, b2 = params

    def loss_fn():
        h = ops.relu(F.conv2d(x, w1, b1, padding="same"))
        h = F.max_pool2d(h, 4)
        return F.softmax_cross_entropy(F.linear(h.reshape(n, -1), w2, b2), y)

    first = loss_fn().item()
    for _ in range(60):
        loss = loss_fn()
        for p in params:
            p.zero_grad()
        loss.backward()
        for p in params:
            p.data -= 0.5 * p.grad
    assert loss_fn().item() < 0.3 * first
