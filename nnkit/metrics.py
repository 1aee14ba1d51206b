"""Stateful metrics: exact over an epoch.

A metric accumulates sufficient statistics (sums, counts, confusion counts,
or for AUC the scores themselves) with ``update_state`` and computes its value
from them with ``result``: the result over many batches equals the formula on
the concatenated data, never an average of per-batch ratios.  Accumulators
are float64 whatever the model's dtype.

Metrics work on arrays (a ``Tensor`` is read through ``.data``); they never
record a graph.  ``get`` resolves names; a plain function
``(y_true, y_pred) -> per-sample values`` becomes a weighted mean named after
the function.  A metric's ``name`` is what the training logs show.
"""
import numpy as np

from nnkit import losses as _losses
from nnkit.tensor import Tensor, get_keras_mask, no_grad

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "Precision", "Recall", "AUC", "MeanAbsoluteError", "MeanSquaredError",
    "RootMeanSquaredError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "CosineSimilarity",
    "LogCoshError", "Hinge", "SquaredHinge", "CategoricalHinge", "Poisson", "KLDivergence",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives", "FBetaScore", "F1Score", "R2Score",
    "IoU", "MeanIoU", "SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall",
    "RecallAtPrecision",
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "get", "names",
]


def _np(a):
    return a.data if isinstance(a, Tensor) else np.asarray(a)


def _labels(op, y_true, y_pred):
    """Integer labels of shape ``y_pred.shape[:-1]`` (a trailing axis of 1 is dropped)."""
    y = _np(y_true)
    if y.ndim == y_pred.ndim and y.shape[-1] == 1:
        y = y[..., 0]
    if y.shape != y_pred.shape[:-1]:
        raise ValueError(f"{op}: expected integer labels of shape {y_pred.shape[:-1]} for predictions of shape "
                         f"{y_pred.shape}, got {y.shape}")
    return y.astype(np.int64, copy=False)


def _same_shape(op, y_true, y_pred):
    y = _np(y_true)
    if y.shape != y_pred.shape:
        if y.shape == y_pred.shape[:-1] and y_pred.shape[-1:] == (1,):
            return y[..., None]
        if y.shape[:-1] == y_pred.shape and y.shape[-1:] == (1,):
            return y[..., 0]
        raise ValueError(f"{op}: y_true has shape {y.shape} but y_pred has shape {y_pred.shape}")
    return y


def _weights(op, sample_weight, values):
    """``sample_weight`` broadcast to ``values`` (a per-sample weight spreads over trailing axes)."""
    if sample_weight is None:
        return np.ones(values.shape)
    w = _np(sample_weight).astype(np.float64)
    if w.ndim and values.ndim and w.shape[0] != values.shape[0]:
        raise ValueError(f"{op}: sample_weight has {w.shape[0]} entries but the batch has {values.shape[0]}")
    if w.ndim > values.ndim:
        w = w.reshape(w.shape[:values.ndim])
    w = w.reshape(w.shape + (1,) * (values.ndim - w.ndim))
    return np.broadcast_to(w, values.shape)


# -- per-sample metric functions -----------------------------------------------------------------------
def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_pred = _np(y_pred)
    y = _same_shape("binary_accuracy", y_true, y_pred)
    hit = (y_pred > threshold) == (y > 0.5)
    return hit.mean(axis=-1) if hit.ndim >= 2 else hit.astype(np.float64)


def categorical_accuracy(y_true, y_pred):
    y_pred = _np(y_pred)
    y = _same_shape("categorical_accuracy", y_true, y_pred)
    return (np.argmax(y, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    y_pred = _np(y_pred)
    return (_labels("sparse_categorical_accuracy", y_true, y_pred) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def _in_top_k(labels, y_pred, k):
    """Whether the true class is among the ``k`` highest scores (fewer than ``k`` scores beat it)."""
    true_score = np.take_along_axis(y_pred, labels[..., None], axis=-1)
    return ((y_pred > true_score).sum(axis=-1) < k).astype(np.float64)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_pred = _np(y_pred)
    y = _same_shape("top_k_categorical_accuracy", y_true, y_pred)
    return _in_top_k(np.argmax(y, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_pred = _np(y_pred)
    return _in_top_k(_labels("sparse_top_k_categorical_accuracy", y_true, y_pred), y_pred, k)


def accuracy(y_true, y_pred):
    """Elementwise equality (Keras's ``Accuracy``)."""
    y_pred = _np(y_pred)
    hit = _same_shape("accuracy", y_true, y_pred) == y_pred
    return hit.mean(axis=-1) if hit.ndim >= 2 else hit.astype(np.float64)


def _from_loss(loss_fn):
    """A metric function giving a loss function's per-sample values on arrays (one formula, one home)."""
    def metric(y_true, y_pred, **kwargs):
        with no_grad():
            return loss_fn(y_true, Tensor(_np(y_pred)), **kwargs).data
    metric.__name__ = metric.__qualname__ = loss_fn.__name__
    return metric


mean_absolute_error = _from_loss(_losses.mean_absolute_error)
mean_squared_error = _from_loss(_losses.mean_squared_error)
mean_absolute_percentage_error = _from_loss(_losses.mean_absolute_percentage_error)
mean_squared_logarithmic_error = _from_loss(_losses.mean_squared_logarithmic_error)
log_cosh = _from_loss(_losses.log_cosh)
hinge = _from_loss(_losses.hinge)
squared_hinge = _from_loss(_losses.squared_hinge)
categorical_hinge = _from_loss(_losses.categorical_hinge)
poisson = _from_loss(_losses.poisson)
kl_divergence = _from_loss(_losses.kl_divergence)
binary_crossentropy = _from_loss(_losses.binary_crossentropy)
categorical_crossentropy = _from_loss(_losses.categorical_crossentropy)
sparse_categorical_crossentropy = _from_loss(_losses.sparse_categorical_crossentropy)
_negative_cosine = _from_loss(_losses.cosine_similarity)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Cosine of the angle between target and prediction along ``axis`` (+1: same direction; the loss's
    negative, as Keras's metric)."""
    return -_negative_cosine(y_true, y_pred, axis=axis)


# -- classes --------------------------------------------------------------------------------------------
class Metric:
    """Base class: ``update_state`` accumulates, ``result`` reads, ``reset_state`` clears."""

    def __init__(self, name=None):
        self.name = name or _losses.snake_case(type(self).__name__)
        self.reset_state()

    def reset_state(self):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Update with one batch and return the running result."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class Mean(Metric):
    """Weighted mean of the values passed to ``update_state(values, sample_weight=None)``."""

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        if type(values) is float and type(sample_weight) is int:  # a batch's loss and size: the same doubles
            self.total += values * sample_weight
            self.count += float(sample_weight)
            return
        v = np.asarray(_np(values), dtype=np.float64)
        w = _weights(self.name, sample_weight, v)
        self.total += float((v * w).sum())
        self.count += float(w.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The weighted mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``.

    A mask carried by ``y_pred`` (``Embedding(mask_zero=True)`` upstream) leaves the masked entries out, as
    Keras 3 does."""

    def __init__(self, fn, name=None, **kwargs):
        self.fn, self.kwargs = fn, kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def update_state(self, y_true, y_pred, sample_weight=None):
        mask = get_keras_mask(y_pred)
        with no_grad():
            values = self.fn(y_true, y_pred, **self.kwargs)
        if mask is not None:
            sample_weight = _masked_weights(self.name, sample_weight, mask, np.asarray(_np(values)))
        super().update_state(values, sample_weight)


def _masked_weights(op, sample_weight, mask, values):
    """``sample_weight`` (or ones) times the 0/1 ``mask`` shaped like the per-sample ``values``."""
    mask = _losses.fit_mask(op, np.asarray(mask, np.float64), values.shape, "values")
    if sample_weight is None:
        return mask
    w = _np(sample_weight).astype(np.float64)
    return mask * w.reshape(w.shape + (1,) * (mask.ndim - w.ndim)) if w.ndim < mask.ndim else mask * w

    def get_config(self):
        return {"name": self.name, **self.kwargs}


def _wrapper(fn, default_name, **fixed):
    class Wrapped(MeanMetricWrapper):
        def __init__(self, name=default_name, **kwargs):
            super().__init__(fn, name, **{**fixed, **kwargs})

        @classmethod
        def from_config(cls, config):
            return cls(**config)
    return Wrapped


class Accuracy(_wrapper(accuracy, "accuracy")):
    """Fraction of elements where ``y_pred == y_true`` exactly."""


class BinaryAccuracy(_wrapper(binary_accuracy, "binary_accuracy")):
    """Fraction of elements where ``y_pred > threshold`` agrees with ``y_true``."""

    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(name, threshold=threshold)


class CategoricalAccuracy(_wrapper(categorical_accuracy, "categorical_accuracy")):
    """Fraction of samples where ``argmax(y_pred) == argmax(y_true)`` (one-hot targets)."""


class SparseCategoricalAccuracy(_wrapper(sparse_categorical_accuracy, "sparse_categorical_accuracy")):
    """Fraction of samples where ``argmax(y_pred)`` equals the integer label."""


class TopKCategoricalAccuracy(_wrapper(top_k_categorical_accuracy, "top_k_categorical_accuracy")):
    """Fraction of samples whose true class (one-hot) is among the ``k`` highest scores."""

    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        super().__init__(name, k=k)


class SparseTopKCategoricalAccuracy(_wrapper(sparse_top_k_categorical_accuracy, "sparse_top_k_categorical_accuracy")):
    """Fraction of samples whose integer label is among the ``k`` highest scores."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        super().__init__(name, k=k)


class MeanAbsoluteError(_wrapper(mean_absolute_error, "mean_absolute_error")):
    pass


class MeanSquaredError(_wrapper(mean_squared_error, "mean_squared_error")):
    pass


class MeanAbsolutePercentageError(_wrapper(mean_absolute_percentage_error, "mean_absolute_percentage_error")):
    pass


class MeanSquaredLogarithmicError(_wrapper(mean_squared_logarithmic_error, "mean_squared_logarithmic_error")):
    pass


class LogCoshError(_wrapper(log_cosh, "logcosh")):
    pass


class Hinge(_wrapper(hinge, "hinge")):
    pass


class SquaredHinge(_wrapper(squared_hinge, "squared_hinge")):
    pass


class CategoricalHinge(_wrapper(categorical_hinge, "categorical_hinge")):
    pass


class Poisson(_wrapper(poisson, "poisson")):
    pass


class KLDivergence(_wrapper(kl_divergence, "kl_divergence")):
    pass


class CosineSimilarity(_wrapper(cosine_similarity, "cosine_similarity")):
    def __init__(self, name="cosine_similarity", axis=-1):
        super().__init__(name, axis=axis)


class BinaryCrossentropy(_wrapper(binary_crossentropy, "binary_crossentropy")):
    def __init__(self, name="binary_crossentropy", from_logits=False, label_smoothing=0.0):
        super().__init__(name, from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(_wrapper(categorical_crossentropy, "categorical_crossentropy")):
    def __init__(self, name="categorical_crossentropy", from_logits=False, label_smoothing=0.0):
        super().__init__(name, from_logits=from_logits, label_smoothing=label_smoothing)


class SparseCategoricalCrossentropy(_wrapper(sparse_categorical_crossentropy, "sparse_categorical_crossentropy")):
    def __init__(self, name="sparse_categorical_crossentropy", from_logits=False):
        super().__init__(name, from_logits=from_logits)


class RootMeanSquaredError(Mean):
    """``sqrt`` of the weighted mean of the elementwise squared errors (exact over the epoch)."""

    def __init__(self, name="root_mean_squared_error"):
        super().__init__(name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(_np(y_pred), np.float64)
        super().update_state((y_pred - _same_shape(self.name, y_true, y_pred)) ** 2, sample_weight)

    def result(self):
        return float(np.sqrt(super().result()))


class _AutoAccuracy(MeanMetricWrapper):
    """``'accuracy'`` when the loss does not tell the target format: decided per batch from the shapes."""

    def __init__(self, name="accuracy"):
        super().__init__(self._auto, name)

    @staticmethod
    def _auto(y_true, y_pred):
        y_pred, y = _np(y_pred), _np(y_true)
        if y_pred.ndim >= 1 and y_pred.shape[-1] > 1:
            return categorical_accuracy(y, y_pred) if y.shape == y_pred.shape else sparse_categorical_accuracy(y, y_pred)
        return binary_accuracy(y, y_pred)

    def get_config(self):
        return {"name": self.name}


class _Confusion(Metric):
    """Weighted true/false positive/negative counts of ``y_pred > threshold`` against ``y_true``."""

    def __init__(self, thresholds=0.5, class_id=None, name=None):
        if not 0 <= thresholds <= 1 and not isinstance(self, AUC):
            raise ValueError(f"{type(self).__name__}: threshold must be in [0, 1], got {thresholds}")
        self.threshold, self.class_id = float(thresholds), class_id
        super().__init__(name)

    def reset_state(self):
        self.tp = self.fp = self.fn = self.tn = 0.0

    def _binary(self, y_true, y_pred, sample_weight):
        y_pred = np.asarray(_np(y_pred), dtype=np.float64)
        y = _np(y_true)
        if self.class_id is not None:
            if y.shape != y_pred.shape:  # integer labels against (N, K) scores
                y = _labels(self.name, y, y_pred) == self.class_id
            else:
                y = y[..., self.class_id]
            y_pred = y_pred[..., self.class_id]
        else:
            y = _same_shape(self.name, y, y_pred)
        truth = np.asarray(y) > 0.5
        return truth, y_pred, _weights(self.name, sample_weight, y_pred)

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth, score, w = self._binary(y_true, y_pred, sample_weight)
        pred = score > self.threshold
        self.tp += float(w[pred & truth].sum())
        self.fp += float(w[pred & ~truth].sum())
        self.fn += float(w[~pred & truth].sum())
        self.tn += float(w[~pred & ~truth].sum())

    def get_config(self):
        return {"name": self.name, "thresholds": self.threshold, "class_id": self.class_id}


class Precision(_Confusion):
    """``tp / (tp + fp)`` over every element (or column ``class_id``); 0 when nothing is predicted positive."""

    def result(self):
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0


class Recall(_Confusion):
    """``tp / (tp + fn)`` over every element (or column ``class_id``); 0 when there are no positives."""

    def result(self):
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


class AUC(_Confusion):
    """Exact area under the ROC curve (``curve='ROC'``) or the precision-recall curve (``'PR'``,
    as average precision ``sum (R_i - R_{i-1}) P_i``), from every score seen since the last reset.

    Ties between positive and negative scores count one half (the trapezoid
    over the tied step).  ``from_logits`` has no effect on ROC (a monotone map)
    and is accepted for symmetry.
    """

    def __init__(self, curve="ROC", class_id=None, from_logits=False, name="auc"):
        curve = curve.upper()
        if curve not in ("ROC", "PR"):
            raise ValueError(f"AUC: unknown curve {curve!r}; valid choices: 'ROC', 'PR'")
        self.curve, self.from_logits = curve, bool(from_logits)
        super().__init__(0.5, class_id, name)

    def reset_state(self):
        self.scores, self.truth, self.weights = [], [], []

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth, score, w = self._binary(y_true, y_pred, sample_weight)
        self.scores.append(score.ravel().copy())
        self.truth.append(truth.ravel().copy())
        self.weights.append(np.asarray(w, np.float64).ravel().copy())

    def result(self):
        if not self.scores:
            return 0.0
        score, truth, w = (np.concatenate(a) for a in (self.scores, self.truth, self.weights))
        order = np.argsort(-score, kind="stable")
        score, truth, w = score[order], truth[order], w[order]
        last_of_tie = np.r_[score[1:] != score[:-1], True]
        tp = np.cumsum(w * truth)[last_of_tie]
        fp = np.cumsum(w * ~truth)[last_of_tie]
        if tp[-1] == 0 or (self.curve == "ROC" and fp[-1] == 0):
            return 0.0
        if self.curve == "ROC":
            tpr, fpr = np.r_[0, tp / tp[-1]], np.r_[0, fp / fp[-1]]
            return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        recall = np.r_[0, tp / tp[-1]]
        precision = tp / np.maximum(tp + fp, 1e-300)
        return float(np.sum(np.diff(recall) * precision))

    def get_config(self):
        return {"name": self.name, "curve": self.curve, "class_id": self.class_id, "from_logits": self.from_logits}


class _ThresholdCount(Metric):
    """Weighted count of one confusion cell of ``y_pred > threshold`` against ``y_true`` (elementwise);
    a list of thresholds gives one count each (an array)."""

    def __init__(self, thresholds=None, name=None):
        t = np.atleast_1d(np.asarray(0.5 if thresholds is None else thresholds, np.float64))
        if t.ndim != 1 or np.any((t < 0) | (t > 1)):
            raise ValueError(f"{type(self).__name__}: thresholds must be in [0, 1], got {thresholds}")
        self.thresholds, self._scalar = thresholds, np.ndim(thresholds) == 0
        self._t = t
        super().__init__(name)

    def reset_state(self):
        self.count = np.zeros(len(self._t))

    def update_state(self, y_true, y_pred, sample_weight=None):
        score = np.asarray(_np(y_pred), np.float64)
        truth = _same_shape(self.name, y_true, score).astype(bool)
        w = _weights(self.name, sample_weight, score)
        pred = score[..., None] > self._t
        cell = self.cell(pred, truth[..., None])
        self.count += (cell * w[..., None]).reshape(-1, len(self._t)).sum(0)

    def result(self):
        return float(self.count[0]) if self._scalar else self.count.copy()

    def get_config(self):
        return {"name": self.name, "thresholds": self.thresholds}


class TruePositives(_ThresholdCount):
    cell = staticmethod(lambda pred, truth: pred & truth)


class FalsePositives(_ThresholdCount):
    cell = staticmethod(lambda pred, truth: pred & ~truth)


class TrueNegatives(_ThresholdCount):
    cell = staticmethod(lambda pred, truth: ~pred & ~truth)


class FalseNegatives(_ThresholdCount):
    cell = staticmethod(lambda pred, truth: ~pred & truth)


class FBetaScore(Metric):
    """Keras 3's F-beta over (batch, classes) one-hot/multi-label targets.

    A prediction is positive where it exceeds ``threshold``, or, with
    ``threshold=None``, where it is the row's maximum (and non-zero).  ``average``:
    ``None`` (one score per class), ``'micro'`` (counts pooled over classes),
    ``'macro'`` (mean of the class scores) or ``'weighted'`` (by each class's
    weighted support).  As Keras, ratios use ``EPSILON`` in the denominators.
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score"):
        op = type(self).__name__
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{op}: unknown average {average!r}; valid choices: None, 'micro', 'macro', 'weighted'")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta <= 0:
            raise ValueError(f"{op}: beta must be a positive number, got {beta!r}")
        if threshold is not None and not 0 < threshold <= 1:
            raise ValueError(f"{op}: threshold must be None or in (0, 1], got {threshold}")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        super().__init__(name)

    def reset_state(self):
        self.tp = self.fp = self.fn = self.support = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        score = np.asarray(_np(y_pred), np.float64)
        if score.ndim != 2:
            raise ValueError(f"{self.name}: expected predictions of shape (batch, classes), got {score.shape}")
        y = _same_shape(self.name, y_true, score).astype(np.float64)
        if self.threshold is None:
            pred = (score >= score.max(-1, keepdims=True)) & (np.abs(score) > 1e-9)
        else:
            pred = score > self.threshold
        pred = pred.astype(np.float64)
        w = _weights(self.name, sample_weight, score)
        axis = None if self.average == "micro" else 0
        self.tp = self.tp + (w * pred * y).sum(axis)
        self.fp = self.fp + (w * pred * (1 - y)).sum(axis)
        self.fn = self.fn + (w * (1 - pred) * y).sum(axis)
        self.support = self.support + (w * y).sum(axis)

    def result(self):
        eps = _losses.EPSILON
        precision = self.tp / (self.tp + self.fp + eps)
        recall = self.tp / (self.tp + self.fn + eps)
        b2 = self.beta ** 2
        f = (1 + b2) * precision * recall / (b2 * precision + recall + eps)
        if self.average == "weighted":
            return float(np.sum(f * self.support / (np.sum(self.support) + eps)))
        if self.average is not None:
            return float(np.mean(f))
        return np.asarray(f, np.float64)

    def get_config(self):
        return {"name": self.name, "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """``FBetaScore`` with ``beta=1``."""

    def __init__(self, average=None, threshold=None, name="f1_score"):
        super().__init__(average, 1.0, threshold, name)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class R2Score(Metric):
    """Coefficient of determination per output column of (batch, outputs) targets, from weighted sums
    (Keras 3): ``class_aggregation`` ``'uniform_average'`` (default), ``'variance_weighted_average'`` or
    ``None``; ``num_regressors > 0`` gives the adjusted R2 (with Keras's sample count: every element)."""

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score"):
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError(f"R2Score: unknown class_aggregation {class_aggregation!r}; valid choices: None, "
                             f"'uniform_average', 'variance_weighted_average'")
        if num_regressors < 0:
            raise ValueError(f"R2Score: num_regressors must be >= 0, got {num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)
        super().__init__(name)

    def reset_state(self):
        self.sum = self.squared_sum = self.total_mse = self.count = 0.0
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        pred = np.asarray(_np(y_pred), np.float64)
        if pred.ndim == 1:
            pred = pred[:, None]
        y = _same_shape(self.name, y_true, pred).astype(np.float64)
        if pred.ndim != 2:
            raise ValueError(f"{self.name}: expected (batch, outputs) values, got shape {pred.shape}")
        w = _weights(self.name, sample_weight, y)
        self.sum = self.sum + (w * y).sum(0)
        self.squared_sum = self.squared_sum + (w * y * y).sum(0)
        self.total_mse = self.total_mse + (w * (y - pred) ** 2).sum(0)
        self.count = self.count + w.sum(0)
        self.num_samples += y.size

    def result(self):
        with np.errstate(divide="ignore", invalid="ignore"):
            total = self.squared_sum - self.sum * (self.sum / self.count)
            raw = 1 - self.total_mse / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            r2 = np.sum(total * raw) / np.sum(total)
        else:
            r2 = raw
        n, p = self.num_samples, self.num_regressors
        if p and p < n - 1:  # Keras falls back to the plain score otherwise
            r2 = 1 - (1 - r2) * (n - 1) / (n - p - 1)
        return float(r2) if np.ndim(r2) == 0 else np.asarray(r2)

    def get_config(self):
        return {"name": self.name, "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class IoU(Metric):
    """Intersection over union ``tp / (tp + fp + fn)`` per class from a weighted confusion matrix, averaged
    over ``target_class_ids`` that occur (Keras 3).  Targets and predictions are class ids unless
    ``sparse_y_true`` / ``sparse_y_pred`` is False (then the argmax over ``axis``); ids outside
    ``[0, num_classes)`` and ``ignore_class`` are skipped, as Keras does."""

    def __init__(self, num_classes, target_class_ids, name=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        op = type(self).__name__
        if int(num_classes) < 1:
            raise ValueError(f"{op}: num_classes must be >= 1, got {num_classes}")
        ids = [int(i) for i in target_class_ids]
        if not ids or min(ids) < 0 or max(ids) >= num_classes:
            raise ValueError(f"{op}: target_class_ids must be non-empty ids in [0, {num_classes}), got "
                             f"{list(target_class_ids)}")
        self.num_classes, self.target_class_ids = int(num_classes), ids
        self.ignore_class, self.sparse_y_true, self.sparse_y_pred, self.axis = \
            ignore_class, bool(sparse_y_true), bool(sparse_y_pred), axis
        super().__init__(name)

    def reset_state(self):
        self.total_cm = np.zeros((self.num_classes, self.num_classes))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y, p = _np(y_true), _np(y_pred)
        y = np.argmax(y, axis=self.axis) if not self.sparse_y_true else y
        p = np.argmax(p, axis=self.axis) if not self.sparse_y_pred else p
        y, p = np.asarray(y).reshape(-1), np.asarray(p).reshape(-1)
        if y.size != p.size:
            raise ValueError(f"{self.name}: {y.size} targets but {p.size} predictions (after argmax and flatten)")
        w = np.ones(y.size) if sample_weight is None else \
            np.broadcast_to(np.asarray(_np(sample_weight), np.float64).reshape(-1), y.shape)
        keep = (y >= 0) & (y < self.num_classes) & (p >= 0) & (p < self.num_classes)
        if self.ignore_class is not None:
            keep &= y != self.ignore_class
        np.add.at(self.total_cm, (y[keep].astype(np.int64), p[keep].astype(np.int64)), w[keep])

    def result(self):
        tp = np.diag(self.total_cm)
        denominator = (self.total_cm.sum(0) + self.total_cm.sum(1) - tp)[self.target_class_ids]
        tp = tp[self.target_class_ids]
        valid = denominator > 1e-9
        iou = np.where(valid, tp / (denominator + _losses.EPSILON), 0.0)
        return float(iou.sum() / valid.sum()) if valid.any() else 0.0

    def get_config(self):
        return {"name": self.name, "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class MeanIoU(IoU):
    """``IoU`` averaged over every class."""

    def __init__(self, num_classes, name=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, range(int(num_classes)), name, ignore_class, sparse_y_true, sparse_y_pred, axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class _AtConstraint(Metric):
    """The best of one rate subject to a floor on another, over Keras's grid of ``num_thresholds``
    thresholds ``0, 1/(n-1), ..., 1`` (predictions clipped to [0, 1]; a prediction counts positive at
    thresholds strictly below it, and always at the first one, exactly as Keras buckets them)."""

    constraint = None  # the argument's name: 'specificity', 'sensitivity', 'recall' or 'precision'

    def __init__(self, value, num_thresholds=200, class_id=None, name=None):
        op = type(self).__name__
        if not 0 <= value <= 1:
            raise ValueError(f"{op}: {self.constraint} must be in [0, 1], got {value}")
        if int(num_thresholds) < 1:
            raise ValueError(f"{op}: num_thresholds must be an integer > 0, got {num_thresholds}")
        self.value, self.num_thresholds, self.class_id = float(value), int(num_thresholds), class_id
        super().__init__(name)

    def reset_state(self):
        self.tp, self.fp, self.tn, self.fn = (np.zeros(self.num_thresholds) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None):
        score = np.asarray(_np(y_pred), np.float64)
        y = _np(y_true)
        if self.class_id is not None:
            y, score = y[..., self.class_id], score[..., self.class_id]
        truth = _same_shape(self.name, y, score).astype(bool).ravel()
        w = _weights(self.name, sample_weight, score).ravel()
        score = score.ravel()
        n = self.num_thresholds
        if n == 1:
            positive = (score > 0.5)[:, None]
        else:
            bucket = np.maximum(np.ceil(np.clip(score, 0, 1) * (n - 1)) - 1, 0)
            positive = bucket[:, None] >= np.arange(n)
        for name, cell in (("tp", positive & truth[:, None]), ("fp", positive & ~truth[:, None]),
                           ("tn", ~positive & ~truth[:, None]), ("fn", ~positive & truth[:, None])):
            setattr(self, name, getattr(self, name) + w @ cell)

    @staticmethod
    def _ratio(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a + b > 0, a / (a + b), 0.0)

    def rates(self):
        """(sensitivity = recall, specificity, precision) at each threshold (0 where undefined)."""
        return self._ratio(self.tp, self.fn), self._ratio(self.tn, self.fp), self._ratio(self.tp, self.fp)

    def result(self):
        constrained, dependent = self.pick(*self.rates())
        return float(np.max(np.where(constrained >= self.value, dependent, 0.0), initial=0.0))

    def get_config(self):
        return {"name": self.name, self.constraint: self.value, "num_thresholds": self.num_thresholds,
                "class_id": self.class_id}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(config.pop(cls.constraint), **config)


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall) at a specificity of at least ``specificity``."""
    constraint = "specificity"
    pick = staticmethod(lambda sens, spec, prec: (spec, sens))


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity at a sensitivity of at least ``sensitivity``."""
    constraint = "sensitivity"
    pick = staticmethod(lambda sens, spec, prec: (sens, spec))


class PrecisionAtRecall(_AtConstraint):
    """The best precision at a recall of at least ``recall``."""
    constraint = "recall"
    pick = staticmethod(lambda sens, spec, prec: (sens, prec))


class RecallAtPrecision(_AtConstraint):
    """The best recall at a precision of at least ``precision``."""
    constraint = "precision"
    pick = staticmethod(lambda sens, spec, prec: (prec, sens))


_NAMES = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "precision": Precision, "recall": Recall, "auc": AUC,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "root_mean_squared_error": RootMeanSquaredError, "cosine_similarity": CosineSimilarity,
    "log_cosh": LogCoshError, "logcosh": LogCoshError, "hinge": Hinge, "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge, "poisson": Poisson, "kl_divergence": KLDivergence,
    "kld": KLDivergence, "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, "r2_score": R2Score,
}
_ACCURACY = ("accuracy", "acc")


def names():
    """Metric names ``get`` accepts (loss names are accepted too: the mean loss)."""
    return sorted(set(_NAMES) | set(_ACCURACY) | set(_losses.names()))


def _accuracy_for(loss, name):
    if isinstance(loss, _losses.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy(name=name)
    if isinstance(loss, _losses.CategoricalCrossentropy):
        return CategoricalAccuracy(name=name)
    if isinstance(loss, _losses.BinaryCrossentropy):
        return BinaryAccuracy(name=name, threshold=0.0 if loss.from_logits else 0.5)
    return _AutoAccuracy(name=name)


def get(identifier, loss=None):
    """A ``Metric`` from a name, a class, an instance or a per-sample function.

    ``'accuracy'``/``'acc'`` follow the loss: sparse or categorical accuracy
    for the matching cross-entropy, binary accuracy (threshold 0 on logits)
    for binary cross-entropy, and otherwise the target shape decides.  A loss
    name gives that loss's mean.  The metric keeps the name the user gave.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _ACCURACY:
            return _accuracy_for(loss, identifier)
        if key in _NAMES:
            return _NAMES[key](name=identifier)
        if key in _losses.names():
            return MeanMetricWrapper(_from_loss(_losses.get(key).call), name=identifier)
        raise ValueError(f"unknown metric {identifier!r}; valid names: {', '.join(names())}, "
                         f"a Metric instance or a function (y_true, y_pred) -> per-sample values")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(_as_array_fn(identifier), name=getattr(identifier, "__name__", "metric"))
    raise TypeError(f"cannot interpret {identifier!r} as a metric; valid names: {', '.join(names())}")


def _as_array_fn(fn):
    def call(y_true, y_pred):
        return _np(fn(y_true, y_pred))
    return call
from nnkit import verification  # noqa: E402,F401  (nnkit.metrics.verification: open-set pair verification)
