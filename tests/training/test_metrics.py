"""Metrics accumulated batch by batch equal the formula on the concatenated data."""
import numpy as np
import pytest

from nnkit import Tensor, losses, metrics, ops

rng = np.random.default_rng(1)
N, K = 103, 5
SCORES = rng.standard_normal((N, K))
LABELS = rng.integers(0, K, N)
ONEHOT = np.eye(K)[LABELS]
BIN_T = rng.integers(0, 2, (N, 1)).astype(float)
BIN_P = np.round(rng.random((N, 1)), 2)  # rounded so that ties occur
W = rng.random(N)
REG_T, REG_P = rng.standard_normal((N, 3)), rng.standard_normal((N, 3))


def batches(*arrays, sizes=(7, 32, 1, 50, 13)):
    start = 0
    for s in sizes:
        yield tuple(a[start:start + s] for a in arrays)
        start += s
    assert start == N


def accumulate(metric, y_true, y_pred, weights=None, epochs=2):
    for _ in range(epochs):  # reset_state between epochs starts afresh
        metric.reset_state()
        arrays = (y_true, y_pred) if weights is None else (y_true, y_pred, weights)
        for batch in batches(*arrays):
            metric.update_state(*batch)
    return metric.result()


def auc_roc(truth, score, w):
    """Mann-Whitney: P(score_pos > score_neg) + 0.5 P(tie), weighted."""
    pos, neg = truth.ravel() > 0.5, truth.ravel() <= 0.5
    s, w = score.ravel(), w.ravel()
    diff = s[pos][:, None] - s[neg][None, :]
    pair_w = w[pos][:, None] * w[neg][None, :]
    return ((diff > 0) * pair_w + 0.5 * (diff == 0) * pair_w).sum() / pair_w.sum()


def average_precision(truth, score, w):
    truth, score, w = truth.ravel() > 0.5, score.ravel(), w.ravel()
    ap = 0.0
    for t in np.unique(score):
        sel = score >= t
        tp = (w * (sel & truth)).sum()
        prec = tp / (w * sel).sum()
        at = score == t
        ap += prec * (w * (at & truth)).sum() / (w * truth).sum()
    return ap


TOP3 = ((SCORES > SCORES[np.arange(N), LABELS][:, None]).sum(1) < 3).astype(float)
PRED_POS = BIN_P.ravel() > 0.5
TRUE_POS = BIN_T.ravel() > 0.5

CASES = [
    ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy(), LABELS, SCORES,
     (SCORES.argmax(1) == LABELS).astype(float)),
    ("categorical_accuracy", metrics.CategoricalAccuracy(), ONEHOT, SCORES, (SCORES.argmax(1) == LABELS).astype(float)),
    ("binary_accuracy", metrics.BinaryAccuracy(), BIN_T, BIN_P, (PRED_POS == TRUE_POS).astype(float)),
    ("top3", metrics.TopKCategoricalAccuracy(k=3), ONEHOT, SCORES, TOP3),
    ("sparse_top3", metrics.SparseTopKCategoricalAccuracy(k=3), LABELS, SCORES, TOP3),
    ("mae", metrics.MeanAbsoluteError(), REG_T, REG_P, np.abs(REG_T - REG_P).mean(1)),
    ("mse", metrics.MeanSquaredError(), REG_T, REG_P, ((REG_T - REG_P) ** 2).mean(1)),
]


@pytest.mark.parametrize("name,metric,y_true,y_pred,per_sample", CASES, ids=[c[0] for c in CASES])
def test_mean_metrics_exact_over_epochs(name, metric, y_true, y_pred, per_sample):
    assert accumulate(metric, y_true, y_pred) == pytest.approx(per_sample.mean(), rel=1e-12)
    assert accumulate(metric, y_true, y_pred, W) == pytest.approx((W * per_sample).sum() / W.sum(), rel=1e-12)


def test_precision_recall_exact():
    tp = (W * (PRED_POS & TRUE_POS)).sum()
    fp = (W * (PRED_POS & ~TRUE_POS)).sum()
    fn = (W * (~PRED_POS & TRUE_POS)).sum()
    assert accumulate(metrics.Precision(), BIN_T, BIN_P, W) == pytest.approx(tp / (tp + fp), rel=1e-12)
    assert accumulate(metrics.Recall(), BIN_T, BIN_P, W) == pytest.approx(tp / (tp + fn), rel=1e-12)
    # Not the mean of per-batch ratios:
    per_batch = [metrics.Precision()(t, p) for t, p in batches(BIN_T, BIN_P)]
    assert np.mean(per_batch) != pytest.approx(accumulate(metrics.Precision(), BIN_T, BIN_P), rel=1e-9)


def test_precision_recall_class_id_with_integer_labels():
    pred = SCORES[:, 2] > 0.5
    truth = LABELS == 2
    p = accumulate(metrics.Precision(class_id=2), LABELS, SCORES)
    assert p == pytest.approx((pred & truth).sum() / pred.sum())
    r = accumulate(metrics.Recall(class_id=2), ONEHOT, SCORES)
    assert r == pytest.approx((pred & truth).sum() / truth.sum())


def test_auc_exact():
    ones = np.ones(N)
    assert accumulate(metrics.AUC(), BIN_T, BIN_P) == pytest.approx(auc_roc(BIN_T, BIN_P, ones), rel=1e-12)
    assert accumulate(metrics.AUC(), BIN_T, BIN_P, W) == pytest.approx(auc_roc(BIN_T, BIN_P, W), rel=1e-12)
    assert accumulate(metrics.AUC(curve="PR"), BIN_T, BIN_P, W) == \
        pytest.approx(average_precision(BIN_T, BIN_P, W), rel=1e-12)
    perfect = metrics.AUC()
    perfect.update_state(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]))
    assert perfect.result() == 1.0


def test_custom_metric_function_and_naming():
    def max_error(y_true, y_pred):
        return ops.max(ops.abs(Tensor(y_pred) - Tensor(y_true)), axis=-1)

    m = metrics.get(max_error)
    assert m.name == "max_error"
    assert accumulate(m, REG_T, REG_P) == pytest.approx(np.abs(REG_T - REG_P).max(1).mean())
    assert metrics.get("acc").name == "acc"
    assert metrics.get("mae").name == "mae"
    assert metrics.get(metrics.Precision(name="prec")).name == "prec"


def test_accuracy_follows_the_loss():
    assert isinstance(metrics.get("accuracy", losses.SparseCategoricalCrossentropy()), metrics.SparseCategoricalAccuracy)
    assert isinstance(metrics.get("accuracy", losses.CategoricalCrossentropy()), metrics.CategoricalAccuracy)
    m = metrics.get("accuracy", losses.BinaryCrossentropy(from_logits=True))
    assert isinstance(m, metrics.BinaryAccuracy) and m.kwargs["threshold"] == 0.0
    auto = metrics.get("accuracy")
    assert accumulate(auto, LABELS, SCORES) == pytest.approx((SCORES.argmax(1) == LABELS).mean())
    assert accumulate(auto, ONEHOT, SCORES) == pytest.approx((SCORES.argmax(1) == LABELS).mean())
    assert accumulate(auto, BIN_T, BIN_P) == pytest.approx((PRED_POS == TRUE_POS).mean())


def test_loss_names_as_metrics():
    m = metrics.get("sparse_categorical_crossentropy")
    expected = losses.SparseCategoricalCrossentropy()(LABELS, Tensor(np.abs(SCORES))).item()
    assert accumulate(m, LABELS, np.abs(SCORES)) == pytest.approx(expected, rel=1e-12)


def test_call_updates_and_returns_result():
    m = metrics.SparseCategoricalAccuracy()
    assert m(np.array([1, 0]), np.array([[0.0, 1.0], [0.0, 1.0]])) == 0.5
    assert m(np.array([1, 1]), np.array([[0.0, 1.0], [0.0, 1.0]])) == 0.75
    m.reset_state()
    assert m.result() == 0.0


def test_unknown_metric_lists_names():
    with pytest.raises(ValueError, match="unknown metric 'acuracy'.*sparse_categorical_accuracy"):
        metrics.get("acuracy")
    with pytest.raises(ValueError, match=r"labels of shape \(103,\)"):
        metrics.SparseCategoricalAccuracy().update_state(LABELS[:5], SCORES)
