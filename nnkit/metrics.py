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
from nnkit.tensor import Tensor, no_grad

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "Precision", "Recall", "AUC", "MeanAbsoluteError", "MeanSquaredError",
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
    def metric(y_true, y_pred):
        with no_grad():
            return loss_fn(y_true, Tensor(_np(y_pred))).data
    metric.__name__ = metric.__qualname__ = loss_fn.__name__
    return metric


mean_absolute_error = _from_loss(_losses.mean_absolute_error)
mean_squared_error = _from_loss(_losses.mean_squared_error)


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
        v = np.asarray(_np(values), dtype=np.float64)
        w = _weights(self.name, sample_weight, v)
        self.total += float((v * w).sum())
        self.count += float(w.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The weighted mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, name=None, **kwargs):
        self.fn, self.kwargs = fn, kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def update_state(self, y_true, y_pred, sample_weight=None):
        with no_grad():
            values = self.fn(y_true, y_pred, **self.kwargs)
        super().update_state(values, sample_weight)

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


_NAMES = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "precision": Precision, "recall": Recall, "auc": AUC,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
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
