"""The rest of Keras 3's metrics: hand-computed values, exactness over batches, configs, bad input."""
import numpy as np
import pytest

from nnkit import losses, metrics

rng = np.random.default_rng(2)
EPS = losses.EPSILON


def batched(metric, y, p, w=None, splits=(2, 5)):
    """The metric fed in three uneven batches (exact over an epoch: equals one pass over everything)."""
    metric.reset_state()
    edges = [0, *splits, len(y)]
    for a, b in zip(edges[:-1], edges[1:]):
        metric.update_state(y[a:b], p[a:b], None if w is None else w[a:b])
    return metric.result()


REG_T, REG_P = rng.standard_normal((8, 3)), rng.standard_normal((8, 3))
W = rng.random(8)


def test_loss_named_metrics_are_the_weighted_mean_of_the_loss():
    bin_t = (rng.random((8, 3)) > 0.5).astype(float)
    probs = rng.random((8, 3)) * 0.9 + 0.05
    onehot = np.eye(3)[rng.integers(0, 3, 8)]
    labels = rng.integers(0, 3, 8)
    pos_t, pos_p = rng.random((8, 3)), rng.random((8, 3)) + 0.1
    cases = [
        (metrics.Hinge(), losses.Hinge(), bin_t, REG_P, "hinge"),
        (metrics.SquaredHinge(), losses.SquaredHinge(), bin_t, REG_P, "squared_hinge"),
        (metrics.CategoricalHinge(), losses.CategoricalHinge(), onehot, REG_P, "categorical_hinge"),
        (metrics.LogCoshError(), losses.LogCosh(), REG_T, REG_P, "logcosh"),
        (metrics.Poisson(), losses.Poisson(), pos_t, pos_p, "poisson"),
        (metrics.KLDivergence(), losses.KLDivergence(), probs, probs[::-1], "kl_divergence"),
        (metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
         losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), bin_t, REG_P, "binary_crossentropy"),
        (metrics.CategoricalCrossentropy(), losses.CategoricalCrossentropy(), onehot, probs, "categorical_crossentropy"),
        (metrics.SparseCategoricalCrossentropy(from_logits=True), losses.SparseCategoricalCrossentropy(from_logits=True),
         labels, REG_P, "sparse_categorical_crossentropy"),
        (metrics.MeanSquaredLogarithmicError(), losses.MeanSquaredLogarithmicError(), pos_t, pos_p,
         "mean_squared_logarithmic_error"),
        (metrics.MeanAbsolutePercentageError(), losses.MeanAbsolutePercentageError(), REG_T, REG_P,
         "mean_absolute_percentage_error"),
    ]
    for metric, loss, y, p, name in cases:
        per = losses.reduce_loss("t", loss.call(y, p), "none").numpy()
        assert metric.name == name
        assert batched(metric, y, p, W) == pytest.approx((W * per).sum() / W.sum(), rel=1e-12)
        assert type(metric).from_config(metric.get_config()).get_config() == metric.get_config()


def test_cosine_similarity_and_rmse():
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    cos = (unit(REG_T) * unit(REG_P)).sum(-1)
    assert batched(metrics.CosineSimilarity(), REG_T, REG_P, W) == pytest.approx((W * cos).sum() / W.sum())
    # Keras's docstring example: [[0, 1], [1, 1]] vs [[1, 0], [1, 1]] -> mean(0, 1) = 0.5
    assert metrics.CosineSimilarity()(np.array([[0.0, 1], [1, 1]]), np.array([[1.0, 0], [1, 1]])) == pytest.approx(0.5)
    se = (REG_P - REG_T) ** 2
    assert batched(metrics.RootMeanSquaredError(), REG_T, REG_P, W) == \
        pytest.approx(np.sqrt((W[:, None] * se).sum() / (3 * W.sum())))
    assert metrics.get("root_mean_squared_error").result() == 0.0


def test_confusion_counts_with_one_and_several_thresholds():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], float)
    p = np.array([[0.9, 0.6], [0.2, 0.4], [0.55, 0.8], [0.1, 0.7]])
    w = np.array([1.0, 2.0, 0.5, 3.0])
    pred = p > 0.5
    ww = np.broadcast_to(w[:, None], p.shape)
    expected = {metrics.TruePositives: ww[pred & (y == 1)].sum(), metrics.FalsePositives: ww[pred & (y == 0)].sum(),
                metrics.TrueNegatives: ww[~pred & (y == 0)].sum(), metrics.FalseNegatives: ww[~pred & (y == 1)].sum()}
    for cls, value in expected.items():
        assert batched(cls(), y, p, w, splits=(1, 3)) == value
    # by hand for thresholds (0.3, 0.75), unweighted: tp = 4, 2; fp = 3, 0
    np.testing.assert_array_equal(metrics.TruePositives(thresholds=[0.3, 0.75])(y, p), [4, 2])
    np.testing.assert_array_equal(metrics.FalsePositives(thresholds=[0.3, 0.75])(y, p), [2, 0])
    assert metrics.TruePositives().name == "true_positives"


def test_f1_and_fbeta_all_averages_by_hand():
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]], float)
    p = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1], [0.2, 0.1, 0.7], [0.1, 0.8, 0.1]])
    # argmax predictions: 0, 0, 0, 2, 1 -> per class tp (2, 1, 1), fp (1, 0, 0), fn (0, 1, 0)
    tp, fp, fn = np.array([2.0, 1, 1]), np.array([1.0, 0, 0]), np.array([0.0, 1, 0])

    def fbeta(tp, fp, fn, beta):
        prec, rec = tp / (tp + fp + EPS), tp / (tp + fn + EPS)
        return (1 + beta ** 2) * prec * rec / (beta ** 2 * prec + rec + EPS)

    per = fbeta(tp, fp, fn, 1.0)
    np.testing.assert_allclose(metrics.F1Score()(y, p), per)
    np.testing.assert_allclose(per, [0.8, 2 / 3, 1.0], rtol=1e-6)
    assert batched(metrics.F1Score(average="macro"), y, p) == pytest.approx(per.mean())
    assert batched(metrics.F1Score(average="micro"), y, p) == pytest.approx(fbeta(4.0, 1.0, 1.0, 1.0))
    support = np.array([2.0, 2, 1])
    assert batched(metrics.F1Score(average="weighted"), y, p) == pytest.approx((per * support).sum() / 5)
    np.testing.assert_allclose(metrics.FBetaScore(beta=2.0)(y, p), fbeta(tp, fp, fn, 2.0))
    # a threshold instead of the argmax: class 0 now also predicted for the second row? 0.6 > 0.5 yes
    th = p > 0.5
    tp5 = (th * y).sum(0)
    fp5, fn5 = (th * (1 - y)).sum(0), ((1 - th) * y).sum(0)
    np.testing.assert_allclose(metrics.F1Score(threshold=0.5)(y, p), fbeta(tp5, fp5, fn5, 1.0))
    w = np.array([1.0, 0.5, 2, 1, 3])
    wtp, wfp, wfn = (w[:, None] * (th * y)).sum(0), (w[:, None] * th * (1 - y)).sum(0), (w[:, None] * (1 - th) * y).sum(0)
    np.testing.assert_allclose(batched(metrics.F1Score(threshold=0.5), y, p, w, splits=(1, 3)), fbeta(wtp, wfp, wfn, 1.0))
    cfg = metrics.F1Score(average="macro", threshold=0.4).get_config()
    assert metrics.F1Score.from_config(cfg).get_config() == cfg


def test_r2_score_matches_the_textbook_formula():
    y, p = rng.standard_normal((10, 2)), rng.standard_normal((10, 2))
    w = rng.random(10)
    mean = (w[:, None] * y).sum(0) / w.sum()
    ss_tot = (w[:, None] * (y - mean) ** 2).sum(0)
    ss_res = (w[:, None] * (y - p) ** 2).sum(0)
    raw = 1 - ss_res / ss_tot
    np.testing.assert_allclose(batched(metrics.R2Score(class_aggregation=None), y, p, w), raw, rtol=1e-12)
    assert batched(metrics.R2Score(), y, p, w) == pytest.approx(raw.mean())
    assert batched(metrics.R2Score(class_aggregation="variance_weighted_average"), y, p, w) == \
        pytest.approx((ss_tot * raw).sum() / ss_tot.sum())
    n, k = y.size, 3  # Keras counts every element as a sample in the adjusted score
    assert batched(metrics.R2Score(num_regressors=k), y, p) == pytest.approx(
        1 - (1 - batched(metrics.R2Score(), y, p)) * (n - 1) / (n - k - 1))
    # Keras's docstring example: 0.57142854
    assert metrics.R2Score()(np.array([[1.0], [4], [3]]), np.array([[2.0], [4], [4]])) == pytest.approx(0.5714, abs=1e-4)


def test_iou_and_mean_iou_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 0, 2])
    # confusion (rows true, cols pred): [[1,1,0],[0,2,0],[1,0,1]] -> iou 1/3, 2/3, 1/2
    assert batched(metrics.MeanIoU(3), y, p) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert batched(metrics.IoU(3, target_class_ids=[0, 2]), y, p) == pytest.approx((1 / 3 + 1 / 2) / 2)
    # Keras's docstring example: weights [0.3, 0.3, 0.3, 0.1] -> 0.2857...
    m = metrics.MeanIoU(2)
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    assert m.result() == pytest.approx((0.3 / 0.9 + 0.1 / 0.7) / 2, rel=1e-6)
    # one-hot targets and scores through the argmax; ignore_class and out-of-range ids are skipped
    onehot, scores = np.eye(3)[y], np.eye(3)[p] * 0.8 + 0.05
    assert metrics.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False)(onehot, scores) == \
        pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert metrics.MeanIoU(3, ignore_class=2)(np.r_[y, 7], np.r_[p, 0]) == pytest.approx((1 / 2 + 2 / 3 + 0) / 2)
    cfg = metrics.MeanIoU(3, ignore_class=255).get_config()
    assert metrics.MeanIoU.from_config(cfg).get_config() == cfg


def test_string_names():
    for name, cls in [("root_mean_squared_error", metrics.RootMeanSquaredError), ("mape", metrics.MeanAbsolutePercentageError),
                      ("msle", metrics.MeanSquaredLogarithmicError), ("cosine_similarity", metrics.CosineSimilarity),
                      ("logcosh", metrics.LogCoshError), ("hinge", metrics.Hinge), ("poisson", metrics.Poisson),
                      ("kl_divergence", metrics.KLDivergence), ("binary_crossentropy", metrics.BinaryCrossentropy),
                      ("r2_score", metrics.R2Score)]:
        assert type(metrics.get(name)) is cls


def test_bad_arguments_and_shapes():
    with pytest.raises(ValueError, match="F1Score: unknown average 'mean'"):
        metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match="FBetaScore: beta must be a positive number"):
        metrics.FBetaScore(beta=0)
    with pytest.raises(ValueError, match=r"threshold must be None or in \(0, 1\]"):
        metrics.F1Score(threshold=0.0)
    with pytest.raises(ValueError, match=r"f1_score: expected predictions of shape \(batch, classes\)"):
        metrics.F1Score()(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"TruePositives: thresholds must be in \[0, 1\]"):
        metrics.TruePositives(thresholds=[0.5, 2])
    with pytest.raises(ValueError, match=r"true_positives: y_true has shape \(2, 3\) but y_pred has shape \(2, 2\)"):
        metrics.TruePositives()(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="R2Score: unknown class_aggregation"):
        metrics.R2Score(class_aggregation="sum")
    with pytest.raises(ValueError, match=r"IoU: target_class_ids must be non-empty ids in \[0, 3\)"):
        metrics.IoU(3, target_class_ids=[3])
    with pytest.raises(ValueError, match="mean_io_u: 3 targets but 2 predictions"):
        metrics.MeanIoU(3)(np.zeros(3, int), np.zeros(2, int))


def _grid_rates(y, p, n, w=None):
    """Brute force over Keras's thresholds: positive where the score beats the threshold (and always at 0)."""
    w = np.ones(len(y)) if w is None else w
    t = np.r_[0.0, np.arange(1, n - 1) / (n - 1), 1.0][:n]
    pos = (np.clip(p, 0, 1)[:, None] > t) | (np.arange(n) == 0)
    tp, fp = w @ (pos & (y[:, None] == 1)), w @ (pos & (y[:, None] == 0))
    fn, tn = w @ (~pos & (y[:, None] == 1)), w @ (~pos & (y[:, None] == 0))
    ratio = lambda a, b: np.where(a + b > 0, a / np.maximum(a + b, 1e-300), 0)  # noqa: E731
    return ratio(tp, fn), ratio(tn, fp), ratio(tp, fp)


@pytest.mark.parametrize("cls,value,pick", [
    (metrics.SensitivityAtSpecificity, 0.6, lambda se, sp, pr: (sp, se)),
    (metrics.SpecificityAtSensitivity, 0.7, lambda se, sp, pr: (se, sp)),
    (metrics.PrecisionAtRecall, 0.5, lambda se, sp, pr: (se, pr)),
    (metrics.RecallAtPrecision, 0.8, lambda se, sp, pr: (pr, se)),
])
def test_rate_at_constraint_over_keras_grid(cls, value, pick):
    y = (rng.random(40) > 0.5).astype(float)
    p = np.clip(0.35 * y + rng.random(40) * 0.7, 0, 1)  # informative scores, off the grid points
    w = rng.random(40)
    for n in (200, 7):
        constrained, dependent = pick(*_grid_rates(y, p, n, w))
        expected = np.max(np.where(constrained >= value, dependent, 0))
        got = batched(cls(value, num_thresholds=n), y, p, w, splits=(10, 25))
        assert got == pytest.approx(expected, rel=1e-12)
    m = cls(value, num_thresholds=50, class_id=1)
    two = np.stack([1 - y, y], -1), np.stack([1 - p, p], -1)
    assert m(*two) == pytest.approx(cls(value, num_thresholds=50)(y, p))
    assert cls.from_config(m.get_config()).get_config() == m.get_config()


def test_rate_at_constraint_keras_examples():
    y, p = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    for metric, weights, plain, weighted in [
            (metrics.SensitivityAtSpecificity(0.5), [1, 1, 2, 2, 1], 0.5, 1 / 3),
            (metrics.SpecificityAtSensitivity(0.5), [1, 1, 2, 2, 2], 2 / 3, 0.5),
            (metrics.PrecisionAtRecall(0.5), [2, 2, 2, 1, 1], 0.5, 1 / 3)]:
        assert metric(y, p) == pytest.approx(plain)
        metric.reset_state()
        assert metric(y, p, sample_weight=weights) == pytest.approx(weighted)
    m = metrics.RecallAtPrecision(0.8)
    assert m([0, 0, 1, 1], [0, 0.5, 0.3, 0.9]) == pytest.approx(0.5)
    m.reset_state()
    assert m([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"RecallAtPrecision: precision must be in \[0, 1\], got 1.5"):
        metrics.RecallAtPrecision(1.5)
    with pytest.raises(ValueError, match="num_thresholds must be an integer > 0"):
        metrics.PrecisionAtRecall(0.5, num_thresholds=0)
