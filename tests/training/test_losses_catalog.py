"""The rest of Keras 3's losses: float64 NumPy formulas, gradient checks, reductions, Keras's worked
examples, ignore_class, bad input."""
import numpy as np
import pytest
from gradcheck import check_grad
from loss_oracle import assert_loss_matches, sigmoid, softmax

from nnkit import Tensor, losses, ops

rng = np.random.default_rng(1)
N, K = 6, 4
EPS = losses.EPSILON


LOGITS = rng.standard_normal((N, K))
PROBS = softmax(LOGITS)
ONEHOT = np.eye(K)[[0, 3, 1, 2, 3, 0]]
BIN_T = (rng.random((N, K)) > 0.5).astype(float)
SIGN_T = 2 * BIN_T - 1
REG_T, REG_P = rng.standard_normal((N, K)), rng.standard_normal((N, K))
POS_T, POS_P = rng.random((N, K)) * 3, rng.random((N, K)) * 3 + 0.1
MASK_T = (rng.random((N, 3, 3, 1)) > 0.5).astype(float)
MASK_P = rng.random((N, 3, 3, 1))


# -- the formulas, written out in float64 NumPy from Keras 3's definitions ----------------------------------
def bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def binary_focal(t, p, gamma=2.0, alpha=0.25, balance=False, smoothing=0.0):
    t = t * (1 - smoothing) + 0.5 * smoothing
    p_t = t * p + (1 - t) * (1 - p)
    out = (1 - p_t) ** gamma * bce(t, p)
    if balance:
        out = out * (t * alpha + (1 - t) * (1 - alpha))
    return out.mean(-1)


def categorical_focal(t, p, gamma=2.0, alpha=0.25, smoothing=0.0):
    t = t * (1 - smoothing) + smoothing / t.shape[-1]
    p = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return (alpha * (1 - p) ** gamma * -t * np.log(p)).sum(-1)


def cosine(t, p, axis=-1):
    unit = lambda x: x / np.sqrt((x ** 2).sum(axis, keepdims=True))  # noqa: E731
    return -(unit(t) * unit(p)).sum(axis)


def dice_np(t, p, axis):
    return 1 - 2 * (t * p).sum(axis) / (t.sum(axis) + p.sum(axis) + EPS)


def tversky_np(t, p, alpha, beta, axis):
    inter = (t * p).sum(axis)
    return 1 - inter / (inter + alpha * ((1 - p) * t).sum(axis) + beta * (p * (1 - t)).sum(axis) + EPS)


CASES = [
    (losses.BinaryFocalCrossentropy(), BIN_T, sigmoid(REG_P), binary_focal(BIN_T, sigmoid(REG_P))),
    (losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=1.5, from_logits=True,
                                    label_smoothing=0.1), BIN_T, REG_P,
     binary_focal(BIN_T, sigmoid(REG_P), 1.5, 0.3, True, 0.1)),
    (losses.CategoricalFocalCrossentropy(), ONEHOT, PROBS, categorical_focal(ONEHOT, PROBS)),
    (losses.CategoricalFocalCrossentropy(alpha=0.5, gamma=3.0, from_logits=True, label_smoothing=0.2), ONEHOT,
     LOGITS, categorical_focal(ONEHOT, PROBS, 3.0, 0.5, 0.2)),
    (losses.Hinge(), BIN_T, REG_P, np.maximum(1 - SIGN_T * REG_P, 0).mean(-1)),
    (losses.Hinge(), SIGN_T, REG_P, np.maximum(1 - SIGN_T * REG_P, 0).mean(-1)),
    (losses.SquaredHinge(), BIN_T, REG_P, (np.maximum(1 - SIGN_T * REG_P, 0) ** 2).mean(-1)),
    (losses.CategoricalHinge(), ONEHOT, REG_P,
     np.maximum(((1 - ONEHOT) * REG_P).max(-1) - (ONEHOT * REG_P).sum(-1) + 1, 0)),
    (losses.CosineSimilarity(), REG_T, REG_P, cosine(REG_T, REG_P)),
    (losses.CosineSimilarity(axis=0), REG_T, REG_P, cosine(REG_T, REG_P, 0)),
    (losses.LogCosh(), REG_T, REG_P, np.log(np.cosh(REG_P - REG_T)).mean(-1)),
    (losses.Poisson(), POS_T, POS_P, (POS_P - POS_T * np.log(POS_P + EPS)).mean(-1)),
    (losses.MeanAbsolutePercentageError(), REG_T, REG_P, 100 * np.abs((REG_T - REG_P) / np.abs(REG_T)).mean(-1)),
    (losses.MeanSquaredLogarithmicError(), POS_T, POS_P, ((np.log(POS_P + 1) - np.log(POS_T + 1)) ** 2).mean(-1)),
    (losses.Dice(axis=(1, 2, 3)), MASK_T, MASK_P, dice_np(MASK_T, MASK_P, (1, 2, 3))),
    (losses.Tversky(alpha=0.7, beta=0.3, axis=(1, 2, 3)), MASK_T, MASK_P,
     tversky_np(MASK_T, MASK_P, 0.7, 0.3, (1, 2, 3))),
]
IDS = [f"{type(c[0]).__name__}-{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize("loss,y_true,y_pred,expected", CASES, ids=IDS)
def test_forward_matches_numpy(loss, y_true, y_pred, expected):
    assert_loss_matches(loss, y_true, y_pred, expected)


@pytest.mark.parametrize("loss,y_true,y_pred,expected", CASES, ids=IDS)
def test_gradient(loss, y_true, y_pred, expected):
    check_grad(lambda p: loss(y_true, p), y_pred, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("loss,y_true,y_pred,expected", CASES, ids=IDS)
def test_reductions_config_and_sample_weight(loss, y_true, y_pred, expected):
    w = rng.random(len(expected))
    cfg = loss.get_config()
    make = lambda red: type(loss).from_config({**cfg, "reduction": red})  # noqa: E731
    np.testing.assert_allclose(make("none")(y_true, Tensor(y_pred), sample_weight=w).numpy(),
                               w.reshape(w.shape + (1,) * (expected.ndim - 1)) * expected, rtol=1e-10)
    np.testing.assert_allclose(make("sum")(y_true, Tensor(y_pred)).item(), expected.sum(), rtol=1e-10)
    np.testing.assert_allclose(make("mean_with_sample_weight")(y_true, Tensor(y_pred), sample_weight=w).item(),
                               (w @ expected.reshape(len(w), -1)).sum() / (w.sum() * expected[0].size), rtol=1e-10)
    assert type(loss).from_config(cfg).get_config() == cfg


def test_string_names_and_default_names():
    for name, cls in [("binary_focal_crossentropy", losses.BinaryFocalCrossentropy),
                      ("categorical_focal_crossentropy", losses.CategoricalFocalCrossentropy),
                      ("hinge", losses.Hinge), ("squared_hinge", losses.SquaredHinge),
                      ("categorical_hinge", losses.CategoricalHinge), ("cosine_similarity", losses.CosineSimilarity),
                      ("log_cosh", losses.LogCosh), ("poisson", losses.Poisson),
                      ("mean_absolute_percentage_error", losses.MeanAbsolutePercentageError),
                      ("mape", losses.MeanAbsolutePercentageError),
                      ("mean_squared_logarithmic_error", losses.MeanSquaredLogarithmicError),
                      ("msle", losses.MeanSquaredLogarithmicError), ("dice", losses.Dice), ("tversky", losses.Tversky)]:
        assert type(losses.get(name)) is cls
        if "_" in name:  # Keras's default name is the long snake-case one
            assert cls().name == name


def test_keras_worked_examples():
    # keras.losses.binary_focal_crossentropy's docstring: [[0, 1], [0, 0]] vs [[0.6, 0.4], [0.4, 0.6]], gamma=2
    out = losses.binary_focal_crossentropy(np.array([[0.0, 1], [0, 0]]), Tensor(np.array([[0.6, 0.4], [0.4, 0.6]])))
    np.testing.assert_allclose(out.numpy(), [0.36 * -np.log(0.4), (0.16 * -np.log(0.6) + 0.36 * -np.log(0.4)) / 2])
    np.testing.assert_allclose(out.numpy(), [0.330, 0.206], atol=1e-3)
    # keras.losses.cosine_similarity's docstring: [-0, -1, 1]
    out = losses.cosine_similarity(np.array([[0.0, 1], [1, 1], [1, 1]]), Tensor(np.array([[1.0, 0], [1, 1], [-1, -1]])))
    np.testing.assert_allclose(out.numpy(), [0, -1, 1], atol=1e-12)
    # keras.losses.dice's docstring: per-sample [0.5, 0.7575...] and 0.6164384 over the whole batch
    t = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]])
    p = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]])
    np.testing.assert_allclose(losses.dice(t, Tensor(p), axis=(1, 2, 3)).numpy(), [0.5, 1 - 0.8 / 3.3], rtol=1e-6)
    np.testing.assert_allclose(losses.Dice()(t, Tensor(p)).item(), 0.6164384, rtol=1e-6)
    # Tversky with alpha = beta = 0.5 is Dice
    np.testing.assert_allclose(losses.Tversky()(t, Tensor(p)).item(), losses.Dice()(t, Tensor(p)).item(), rtol=1e-6)


def test_zero_vectors_and_extremes_stay_finite():
    zero = Tensor(np.zeros((2, 3)), requires_grad=True)
    out = losses.CosineSimilarity()(np.ones((2, 3)), zero)
    out.backward()
    assert out.item() == 0 and np.all(np.isfinite(zero.grad))
    big = Tensor(np.array([[800.0, -800.0]]))
    assert np.isfinite(losses.LogCosh()(np.zeros((1, 2)), big).item())
    assert losses.LogCosh()(np.zeros((1, 2)), big).item() == pytest.approx(800 - np.log(2))
    assert np.isfinite(losses.MeanAbsolutePercentageError()(np.zeros((1, 2)), Tensor(np.ones((1, 2)))).item())


def test_hinge_keeps_non_binary_targets():
    t = np.array([[0.0, 0.5]])  # not all in {0, 1}: used as they are (Keras)
    p = np.array([[0.3, -0.2]])
    assert losses.Hinge()(t, Tensor(p)).item() == pytest.approx(np.maximum(1 - t * p, 0).mean())


# -- SparseCategoricalCrossentropy(ignore_class=...) ------------------------------------------------------
LABELS = np.array([0, -1, 3, 1, -1, 2])


def test_ignore_class_means_over_the_valid_entries():
    valid = LABELS != -1
    per = np.where(valid, -np.log(PROBS[np.arange(N), np.where(valid, LABELS, 0)]), 0)
    w = rng.random(N)
    for from_logits, pred in ((False, PROBS), (True, LOGITS)):
        make = lambda red: losses.SparseCategoricalCrossentropy(from_logits, ignore_class=-1, reduction=red)  # noqa
        np.testing.assert_allclose(make("none")(LABELS, Tensor(pred)).numpy(), per, rtol=1e-10)
        np.testing.assert_allclose(make("sum_over_batch_size")(LABELS, Tensor(pred)).item(), per.sum() / valid.sum())
        np.testing.assert_allclose(make("sum")(LABELS, Tensor(pred), sample_weight=w).item(), (w * per).sum())
        np.testing.assert_allclose(make("sum_over_batch_size")(LABELS, Tensor(pred), sample_weight=w).item(),
                                   (w * per).sum() / valid.sum())
        np.testing.assert_allclose(make("mean_with_sample_weight")(LABELS, Tensor(pred), sample_weight=w).item(),
                                   (w * per).sum() / (w * valid).sum())
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    check_grad(lambda z: loss(LABELS, z), LOGITS)
    z = Tensor(LOGITS, requires_grad=True)
    loss(LABELS, z).backward()
    assert np.all(z.grad[~valid] == 0)  # ignored entries do not train
    assert losses.SparseCategoricalCrossentropy(ignore_class=-1).get_config()["ignore_class"] == -1
    loss.check_targets(LABELS, (None, K))  # -1 is allowed because it is ignored


def test_ignore_class_over_pixels_and_all_ignored():
    labels = np.array([[0, 255], [255, 1]])
    probs = softmax(rng.standard_normal((2, 2, 3)))
    loss = losses.SparseCategoricalCrossentropy(ignore_class=255)
    expected = -(np.log(probs[0, 0, 0]) + np.log(probs[1, 1, 1])) / 2
    assert loss(labels, Tensor(probs)).item() == pytest.approx(expected)
    assert loss(np.full((2, 2), 255), Tensor(probs)).item() == 0  # nothing valid: 0, not NaN


# -- bad input --------------------------------------------------------------------------------------------
def test_bad_arguments_and_targets():
    with pytest.raises(ValueError, match="BinaryFocalCrossentropy: alpha must be in"):
        losses.BinaryFocalCrossentropy(alpha=1.5)
    with pytest.raises(ValueError, match="CategoricalFocalCrossentropy: gamma must be non-negative"):
        losses.CategoricalFocalCrossentropy(gamma=-1)
    with pytest.raises(ValueError, match=r"categorical_focal_crossentropy: one-hot targets have shape \(6, 3\)"):
        losses.CategoricalFocalCrossentropy()(np.eye(3)[[0, 1, 2, 0, 1, 2]], Tensor(PROBS))
    with pytest.raises(ValueError, match=r"hinge: y_true has shape \(6, 3\) but y_pred has shape \(6, 4\)"):
        losses.Hinge()(np.zeros((6, 3)), Tensor(REG_P))
    with pytest.raises(ValueError, match=r"dice: axis must be None or axes of the per-sample dimensions"):
        losses.Dice(axis=0)(MASK_T, Tensor(MASK_P))
    with pytest.raises(ValueError, match="tversky: with axis=None the loss is one value for the whole batch"):
        losses.Tversky()(MASK_T, Tensor(MASK_P), sample_weight=np.ones(N))
    with pytest.raises(ValueError, match="ignore_class must be an integer label"):
        losses.SparseCategoricalCrossentropy(ignore_class=0.5)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\).*min -1"):
        losses.SparseCategoricalCrossentropy(ignore_class=255)(LABELS, Tensor(PROBS))
    with pytest.raises(ValueError, match=r"targets must be in \[0, 1\]"):
        losses.BinaryFocalCrossentropy().check_targets(np.array([[2.0]]), (None, 1))


def test_focal_losses_train_a_softmax_output():
    z = Tensor(LOGITS, requires_grad=True)
    losses.CategoricalFocalCrossentropy()(ONEHOT, ops.softmax(z)).backward()
    assert np.all(np.isfinite(z.grad)) and np.abs(z.grad).sum() > 0
