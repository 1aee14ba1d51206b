"""Verification metrics against hand-computed ROC points, the LFW k-fold
protocol by hand, embedding extraction from a model, and bad input."""
import math

import numpy as np
import pytest

import nnkit
from nnkit import verification as V

# six pairs, scores descending; hand-computed ROC (threshold: FAR, TAR):
# inf: 0, 0 | .9: 0, 1/3 | .8: 0, 2/3 | .7: 1/3, 2/3 | .6: 1/3, 1 | .5: 2/3, 1 | .4: 1, 1
SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
SAME = [1, 1, 0, 1, 0, 0]


def test_roc_points_by_hand():
    far, tar, thresholds = V.roc_curve(SCORES[::-1], SAME[::-1])  # order does not matter
    np.testing.assert_allclose(far, [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tar, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def test_tied_scores_are_one_point():
    far, tar, thresholds = V.roc_curve([0.2, 0.5, 0.5], [0, 1, 0])
    np.testing.assert_allclose(far, [0, 0.5, 1])
    np.testing.assert_allclose(tar, [0, 1, 1])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.5, 0.2])


def test_metrics_by_hand():
    assert V.equal_error_rate(SCORES, SAME) == (pytest.approx(1 / 3), 0.7)   # FAR = FRR = 1/3 at 0.7
    assert V.best_accuracy(SCORES, SAME) == (pytest.approx(5 / 6), pytest.approx(0.75))  # accept 0.9, 0.8
    assert V.tar_at_far(SCORES, SAME, far=0.1) == (pytest.approx(2 / 3), 0.8)
    assert V.tar_at_far(SCORES, SAME, far=1e-3) == (pytest.approx(2 / 3), 0.8)
    assert V.tar_at_far(SCORES, SAME, far=0.5) == (pytest.approx(1.0), 0.6)


def test_equal_error_rate_interpolates():
    # points (FAR, FRR): (0, 1), (0, 1/2) at 0.9, (1, 1/2) at 0.8: the line crosses FAR = FRR at 1/2
    assert V.equal_error_rate([0.9, 0.8, 0.7], [1, 0, 1]) == (pytest.approx(0.5), 0.8)
    # separable scores: no error at all
    assert V.equal_error_rate([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0])[0] == 0


def test_kfold_by_hand():
    # 2 folds: each half's best threshold on the other half classifies 2 of its 3 pairs right
    mean, std, thresholds = V.kfold_accuracy(SCORES, SAME, folds=2)
    assert (mean, std) == (pytest.approx(2 / 3), 0)
    np.testing.assert_allclose(thresholds, [0.55, 0.75])
    # 3 folds: thresholds just above 0.7, 0.65, 0.75 give fold accuracies 1, 0, 1
    mean, std, thresholds = V.kfold_accuracy(SCORES, SAME, folds=3)
    assert mean == pytest.approx(2 / 3) and std == pytest.approx(math.sqrt(2) / 3)
    np.testing.assert_allclose(thresholds, [0.7, 0.65, 0.75])


def test_report_and_perfect_separation():
    # genuine scores in [0.6, 1], impostors in [-1, 0.5]; shuffled, so that each fold's threshold learnt on
    # the other nine falls in the gap
    order = np.random.default_rng(0).permutation(100)
    scores = np.r_[np.linspace(0.6, 1.0, 50), np.linspace(-1.0, 0.5, 50)][order]
    same = np.r_[np.ones(50), np.zeros(50)][order]
    out = V.report(scores, same)
    assert out["eer"] == 0 and out["best_accuracy"] == 1 and out["kfold_accuracy"] == 1
    assert out["tar@far=0.001"] == 1 and out["tar@far=0.0001"] == 1 and out["pairs"] == 100


def test_pairs_and_scores():
    labels = np.repeat(np.arange(5), 4)
    i, j, same = V.make_pairs(labels, 101, seed=1)
    assert len(i) == len(j) == len(same) == 101 and same.sum() == 50
    np.testing.assert_array_equal(labels[i] == labels[j], same.astype(bool))
    assert np.all(i[same == 1] != j[same == 1])
    a, b = np.array([[1.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 2.0], [6.0, 8.0]])
    np.testing.assert_allclose(V.pair_scores(a, b), [0.0, 1.0])


def test_embed_takes_the_layer_before_the_head():
    model = nnkit.Sequential([nnkit.Input((5,)), nnkit.layers.Dense(4, name="embedding"),
                              nnkit.layers.NormalizedDense(3, name="head")])
    x = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    features = model.get_layer("embedding")(x).numpy()
    expected = features / np.linalg.norm(features, axis=1, keepdims=True)
    for layer in (None, "embedding", 0, model.get_layer("embedding")):
        np.testing.assert_allclose(V.embed(model, x, layer=layer), expected, rtol=1e-6)
    assert nnkit.metrics.verification is V


@pytest.mark.parametrize("call, error, message", [
    (lambda: V.roc_curve([0.1, 0.2], [1, 1]), ValueError, "roc_curve: needs both genuine and impostor pairs"),
    (lambda: V.roc_curve([0.1, 0.2], [1, 2]), ValueError, "roc_curve: same must hold 1"),
    (lambda: V.roc_curve([0.1, np.nan], [1, 0]), ValueError, "roc_curve: scores must be finite"),
    (lambda: V.roc_curve([0.1, 0.2, 0.3], [1, 0]), ValueError, r"roc_curve: expected scores and same of one shape"),
    (lambda: V.tar_at_far(SCORES, SAME, far=0), ValueError, r"tar_at_far: far must be in \(0, 1\], got 0"),
    (lambda: V.kfold_accuracy(SCORES, SAME, folds=1), ValueError, r"kfold_accuracy: folds must be an integer"),
    (lambda: V.pair_scores(np.zeros((2, 3)), np.zeros((3, 3))), ValueError, "pair_scores: expected two"),
    (lambda: V.make_pairs([0, 0, 0], 4), ValueError, "make_pairs: needs at least two classes"),
    (lambda: V.embed(nnkit.Sequential([nnkit.Input((2,)), nnkit.layers.Dense(2)]), np.zeros((1, 2))), ValueError,
     "embed: the model has 1 layer"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
