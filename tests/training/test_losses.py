"""Every loss against a NumPy formula, a float64 gradient check, reductions and sample weights."""
import numpy as np
import pytest
from gradcheck import check_grad
from loss_oracle import assert_loss_matches, sigmoid, softmax

from nnkit import Tensor, losses, ops

rng = np.random.default_rng(0)
N, K = 6, 4
EPS = losses.EPSILON


LOGITS = rng.standard_normal((N, K))
PROBS = softmax(LOGITS)
LABELS = np.array([0, 3, 1, 2, 3, 0])
ONEHOT = np.eye(K)[LABELS]
SOFT = softmax(rng.standard_normal((N, K)))
REG_T, REG_P = rng.standard_normal((N, K)), rng.standard_normal((N, K))
BIN_T = (rng.random((N, K)) > 0.5).astype(float)


def bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)


def huber_np(t, p, d):
    e = np.abs(p - t)
    return np.where(e <= d, 0.5 * e ** 2, d * (e - 0.5 * d)).mean(-1)


# (loss, y_true, y_pred, per-sample NumPy formula)
CASES = [
    (losses.MeanSquaredError(), REG_T, REG_P, ((REG_P - REG_T) ** 2).mean(-1)),
    (losses.MeanAbsoluteError(), REG_T, REG_P, np.abs(REG_P - REG_T).mean(-1)),
    (losses.Huber(delta=0.7), REG_T, REG_P, huber_np(REG_T, REG_P, 0.7)),
    (losses.BinaryCrossentropy(), BIN_T, sigmoid(REG_P), bce(BIN_T, sigmoid(REG_P))),
    (losses.BinaryCrossentropy(from_logits=True), BIN_T, REG_P, bce(BIN_T, sigmoid(REG_P))),
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), BIN_T, REG_P,
     bce(BIN_T * 0.8 + 0.1, sigmoid(REG_P))),
    (losses.CategoricalCrossentropy(), SOFT, PROBS, -(SOFT * np.log(PROBS)).sum(-1)),
    (losses.CategoricalCrossentropy(from_logits=True), SOFT, LOGITS, -(SOFT * np.log(PROBS)).sum(-1)),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), ONEHOT, LOGITS,
     -((ONEHOT * 0.9 + 0.1 / K) * np.log(PROBS)).sum(-1)),
    (losses.CategoricalCrossentropy(label_smoothing=0.1), ONEHOT, PROBS,
     -((ONEHOT * 0.9 + 0.1 / K) * np.log(PROBS)).sum(-1)),
    (losses.SparseCategoricalCrossentropy(), LABELS, PROBS, -np.log(PROBS[np.arange(N), LABELS])),
    (losses.SparseCategoricalCrossentropy(from_logits=True), LABELS, LOGITS,
     -np.log(PROBS[np.arange(N), LABELS])),
    (losses.KLDivergence(), SOFT, PROBS, (SOFT * np.log(SOFT / PROBS)).sum(-1)),
]
IDS = [f"{type(c[0]).__name__}-{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize("loss,y_true,y_pred,expected", CASES, ids=IDS)
def test_forward_matches_numpy(loss, y_true, y_pred, expected):
    assert_loss_matches(loss, y_true, y_pred, expected)


@pytest.mark.parametrize("loss,y_true,y_pred,expected", CASES, ids=IDS)
def test_gradient(loss, y_true, y_pred, expected):
    if isinstance(loss, losses.Huber):  # keep central differences away from the kink at |e| = delta
        assert np.min(np.abs(np.abs(y_pred - y_true) - loss.delta)) > 1e-3
    check_grad(lambda p: loss(y_true, p), y_pred, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("loss,y_true,y_pred,expected", CASES, ids=IDS)
def test_reductions_and_sample_weight(loss, y_true, y_pred, expected):
    w = rng.random(N)
    cfg = loss.get_config()
    make = lambda red: type(loss).from_config({**cfg, "reduction": red})  # noqa: E731
    np.testing.assert_allclose(make("none")(y_true, Tensor(y_pred)).numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(make("sum")(y_true, Tensor(y_pred)).item(), expected.sum(), rtol=1e-10)
    np.testing.assert_allclose(make("none")(y_true, Tensor(y_pred), sample_weight=w).numpy(), w * expected,
                               rtol=1e-10)
    np.testing.assert_allclose(make("sum")(y_true, Tensor(y_pred), sample_weight=w).item(),
                               (w * expected).sum(), rtol=1e-10)
    # Keras 3: the default divides by the number of samples, 'mean_with_sample_weight' by the weights' sum
    for red in ("sum_over_batch_size", "mean"):
        np.testing.assert_allclose(make(red)(y_true, Tensor(y_pred), sample_weight=w).item(),
                                   (w * expected).sum() / expected.size, rtol=1e-10)
    np.testing.assert_allclose(loss(y_true, Tensor(y_pred), sample_weight=w).item(),
                               (w * expected).sum() / expected.size, rtol=1e-10)
    np.testing.assert_allclose(make("mean_with_sample_weight")(y_true, Tensor(y_pred), sample_weight=w).item(),
                               (w * expected).sum() / w.sum(), rtol=1e-10)
    np.testing.assert_allclose(make("mean_with_sample_weight")(y_true, Tensor(y_pred)).item(), expected.mean(),
                               rtol=1e-10)
    np.testing.assert_allclose(make(None)(y_true, Tensor(y_pred)).numpy(), expected, rtol=1e-10)


def test_float32_logits_stay_float32_and_stable():
    z = np.array([[1000.0, -1000.0, 0.0]], np.float32)
    for loss, y in [(losses.SparseCategoricalCrossentropy(from_logits=True), np.array([1])),
                    (losses.CategoricalCrossentropy(from_logits=True), np.eye(3, dtype=np.float32)[[1]]),
                    (losses.BinaryCrossentropy(from_logits=True), np.array([[0.0, 1.0, 1.0]], np.float32))]:
        out = loss(y, Tensor(z))
        assert out.dtype == np.float32 and np.isfinite(out.item())
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([1]), Tensor(z)).item() == \
        pytest.approx(2000.0)


def test_none_keeps_per_sample_shape():
    p = Tensor(rng.standard_normal((3, 5, 2)))
    assert losses.MeanSquaredError(reduction="none")(np.zeros((3, 5, 2)), p).shape == (3, 5)
    assert losses.SparseCategoricalCrossentropy(reduction="none")(np.zeros((3, 5), int), p).shape == (3, 5)
    assert losses.MeanSquaredError(reduction="none")(np.zeros(3), Tensor(np.ones(3))).shape == (3,)


def test_column_targets_are_accepted():
    p = Tensor(np.array([[0.5], [1.5]]))
    assert losses.MeanSquaredError()(np.array([0.0, 1.0]), p).item() == pytest.approx(0.25)
    assert losses.SparseCategoricalCrossentropy()(np.array([[1], [0]]), Tensor(PROBS[:2])).item() == \
        pytest.approx(-np.log([PROBS[0, 1], PROBS[1, 0]]).mean())


def test_zero_weights_give_zero_loss():
    out = losses.MeanSquaredError()(REG_T, Tensor(REG_P), sample_weight=np.zeros(N))
    assert out.item() == 0.0


def test_custom_loss_trains_without_gradient_code():
    def cubic(y_true, y_pred):
        return ops.mean(ops.abs(y_pred - y_true) ** 3, axis=-1)

    loss = losses.get(cubic)
    assert loss.name == "cubic"
    expected = (np.abs(REG_P - REG_T) ** 3).mean(-1)
    np.testing.assert_allclose(loss(REG_T, Tensor(REG_P)).item(), expected.mean())
    check_grad(lambda p: loss(REG_T, p), REG_P)
    scalar = losses.get(lambda t, p: ops.sum(p - t))
    assert scalar(REG_T, Tensor(REG_P)).ndim == 0


def test_custom_loss_must_return_tensor():
    loss = losses.get(lambda t, p: np.mean(p.numpy()))
    with pytest.raises(TypeError, match="not a Tensor"):
        loss(REG_T, Tensor(REG_P))


def test_string_names():
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert losses.get("mse").name == "mse"
    assert isinstance(losses.get("sparse_categorical_crossentropy"), losses.SparseCategoricalCrossentropy)
    assert losses.get(losses.Huber).name == "huber"
    with pytest.raises(ValueError, match="unknown loss 'msee'.*mean_squared_error"):
        losses.get("msee")


# -- bad input ------------------------------------------------------------------------------------------
def test_labels_outside_range():
    with pytest.raises(ValueError, match=r"\[0, 4\).*max 4"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 1, 2, 4, 0, 0]), Tensor(PROBS))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        losses.SparseCategoricalCrossentropy(from_logits=True).check_targets(np.array([-1, 0]), (None, 4))
    with pytest.raises(ValueError, match="integers"):
        losses.SparseCategoricalCrossentropy()(np.full(N, 0.5), Tensor(PROBS))


def test_one_hot_width_mismatch():
    with pytest.raises(ValueError, match=r"widths must match"):
        losses.CategoricalCrossentropy()(np.eye(3)[[0, 1, 2, 0, 1, 2]], Tensor(PROBS))
    with pytest.raises(ValueError, match=r"per-sample shape \(3,\).*\(4,\)"):
        losses.CategoricalCrossentropy().check_targets(np.eye(3), (None, 4))
    with pytest.raises(ValueError, match="SparseCategoricalCrossentropy"):
        losses.CategoricalCrossentropy().check_targets(LABELS, (None, 4))


def test_shape_mismatch_is_not_broadcast():
    with pytest.raises(ValueError, match=r"\(6, 3\).*\(6, 4\)"):
        losses.MeanSquaredError()(np.zeros((6, 3)), Tensor(REG_P))


def test_bad_sample_weight_and_reduction():
    with pytest.raises(ValueError, match="5 entries"):
        losses.MeanSquaredError()(REG_T, Tensor(REG_P), sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="non-negative"):
        losses.MeanSquaredError()(REG_T, Tensor(REG_P), sample_weight=-np.ones(N))
    with pytest.raises(ValueError, match="valid choices: sum_over_batch_size, mean, mean_with_sample_weight, sum, none, None"):
        losses.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"targets must be in \[0, 1\]"):
        losses.BinaryCrossentropy().check_targets(np.array([[2.0]]), (None, 1))


def test_softmax_output_uses_the_logits():
    z = np.array([[40.0, 0.0, -40.0], [0.1, 0.2, 0.3]])
    for loss, y in [(losses.SparseCategoricalCrossentropy(), np.array([2, 1])),
                    (losses.CategoricalCrossentropy(label_smoothing=0.1), np.eye(3)[[2, 1]])]:
        logits = Tensor(z, requires_grad=True)
        out = loss(y, ops.softmax(logits))
        ref = type(loss)(**{**loss.get_config(), "from_logits": True})(y, Tensor(z))
        assert out.item() == pytest.approx(ref.item(), rel=1e-12)  # not clipped at -log(1e-7)
        out.backward()
        assert abs(logits.grad[0, 2]) > 0.4  # the gradient does not vanish for a confident mistake
        check_grad(lambda t: loss(y, ops.softmax(t)), z / 40)  # moderate logits: both paths agree
