"""Losses: Keras names, classes and string identifiers.

A loss maps ``(y_true, y_pred)`` to a per-sample ``Tensor`` (``call``; for
inputs of shape ``(N, ..., D)`` the last axis is averaged away, a 1-D input
is one value per sample) and then reduces it:

- ``'sum_over_batch_size'`` (default; ``'mean'`` is the same): ``sum(w * l) / n``
  with ``n`` the number of per-sample losses, as Keras 3 (so a weight of 0
  still counts its sample in ``n``);
- ``'mean_with_sample_weight'``: the weighted mean ``sum(w * l) / sum(w)`` (0
  when the weights sum to 0);
- ``'sum'``: ``sum(w * l)``;
- ``'none'`` (or ``None``): ``w * l`` with the per-sample shape.

Cross-entropy on logits (``from_logits=True``) runs the fused, numerically
stable softmax + cross-entropy kernel (``nnkit.functional.softmax_cross_entropy``).
So does categorical cross-entropy on probabilities that a softmax over the
last axis just produced in a recorded graph (as Keras does): the loss reads
the softmax's input instead, which avoids the clipped log whose gradient
vanishes for confidently wrong predictions.
A custom loss is any function ``(y_true, y_pred) -> Tensor`` written with
``nnkit.ops``; ``get(fn)`` wraps it and it trains with no gradient code.
"""
import numpy as np

from nnkit import functional as F
from nnkit import ops
from nnkit.configurable import Configurable
from nnkit.tensor import Tensor, as_tensor, get_keras_mask

__all__ = [
    "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError", "Huber",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence",
    "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "Hinge", "SquaredHinge", "CategoricalHinge",
    "CosineSimilarity", "LogCosh", "Poisson", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
    "Dice", "Tversky",
    "mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence",
    "binary_focal_crossentropy", "categorical_focal_crossentropy", "hinge", "squared_hinge", "categorical_hinge",
    "cosine_similarity", "log_cosh", "poisson", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "dice", "tversky",
    "get", "names", "REDUCTIONS",
]

REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum", "none")
EPSILON = 1e-7  # probabilities are clipped to [EPSILON, 1 - EPSILON] before a log (as Keras)


# -- argument handling ----------------------------------------------------------------------------
def _array(y):
    return y.data if isinstance(y, Tensor) else np.asarray(y)


def _numeric_targets(op, y_true):
    """``y_true`` as an array of numbers (strings or objects failed deep inside NumPy: "ufunc 'minimum'...")."""
    y = _array(y_true)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{op}: expected numeric targets (integer labels or floats), got dtype {y.dtype}"
                        + (f", e.g. {y.flat[0]!r}" if y.size else ""))
    return y


def _float_target(op, y_true, y_pred):
    """``y_true`` as an array of ``y_pred``'s dtype and shape ((N,) and (N, 1) are interchangeable)."""
    y = _array(y_true)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{op}: expected numeric y_true, got dtype {y.dtype}")
    if y.shape != y_pred.shape:
        if y.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1 and y.shape == y_pred.shape[:-1]:
            y = y[..., None]
        elif y.ndim == y_pred.ndim + 1 and y.shape[-1] == 1 and y.shape[:-1] == y_pred.shape:
            y = y[..., 0]
        else:
            raise ValueError(f"{op}: y_true has shape {y.shape} but y_pred has shape {y_pred.shape}; "
                             f"they must match (no silent broadcast)")
    return y.astype(y_pred.dtype, copy=False)


def _mean_last(t):
    """Per-sample value: the mean over the last axis, or the value itself for 1-D input."""
    return ops.mean(t, axis=-1) if t.ndim >= 2 else t


def _sparse_labels(op, y_true, y_pred, ignore_class=None):
    """Integer labels of shape ``y_pred.shape[:-1]``, each in ``[0, K)``.

    With ``ignore_class``, the labels equal to it may be anything and come back as 0.
    """
    y = _array(y_true)
    k = y_pred.shape[-1]
    if y.ndim == y_pred.ndim and y.shape[-1] == 1:
        y = y[..., 0]
    if y.shape != y_pred.shape[:-1]:
        raise ValueError(f"{op}: expected integer labels of shape {y_pred.shape[:-1]} for predictions of shape "
                         f"{y_pred.shape}, got y_true of shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{op}: labels must be integers in [0, {k}), got non-integer values")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iub":
        raise TypeError(f"{op}: expected integer labels, got dtype {y.dtype}")
    if ignore_class is not None:
        y = np.where(y == ignore_class, 0, y)
    _check_label_range(op, y, k)
    return y.astype(np.int64, copy=False)


def _check_label_range(op, y, k):
    if y.size and (y.min() < 0 or y.max() >= k):
        bad = y[(y < 0) | (y >= k)]
        raise ValueError(f"{op}: labels must be in [0, {k}) for an output with {k} classes, "
                         f"got {bad.size} outside it (min {y.min()}, max {y.max()})")


def _softmax_input(y_pred):
    """The logits of ``y_pred`` when it is a recorded softmax over its last axis, else ``None``."""
    ctx = y_pred._ctx
    if isinstance(ctx, ops.Softmax) and ctx.axis in (-1, y_pred.ndim - 1):
        return ctx.parents[0]
    return None


def _clip_probs(p):
    return ops.clip(p, EPSILON, 1 - EPSILON)


def _weights(op, sample_weight, loss):
    """``sample_weight`` as an array broadcastable against the per-sample ``loss``."""
    w = _array(sample_weight).astype(loss.dtype, copy=False)
    if w.ndim and w.shape[0] != (loss.shape[0] if loss.ndim else 1):
        raise ValueError(f"{op}: sample_weight has {w.shape[0]} entries (shape {w.shape}) but the batch has "
                         f"{loss.shape[0] if loss.ndim else 1} samples")
    if w.ndim > loss.ndim and w.shape[loss.ndim:] == (1,) * (w.ndim - loss.ndim):
        w = w.reshape(w.shape[:loss.ndim])
    if w.ndim < loss.ndim:
        w = w.reshape(w.shape + (1,) * (loss.ndim - w.ndim))
    try:
        np.broadcast_shapes(w.shape, loss.shape)
    except ValueError:
        raise ValueError(f"{op}: sample_weight of shape {w.shape} does not fit per-sample losses of "
                         f"shape {loss.shape}") from None
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{op}: sample_weight must be finite and non-negative")
    return w


def reduce_loss(op, loss, reduction, sample_weight=None, mask=None):
    """Apply ``sample_weight`` and ``reduction`` to per-sample losses (see the module doc).

    ``mask`` (boolean, the per-sample shape) drops entries as Keras 3 does: the
    mean reductions then divide by the number of valid entries, not all of them.
    """
    reduction = standardize_reduction(op, reduction)
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask, bool), loss.shape)
        valid = int(mask.sum())
        scale = mask.size / valid if valid and reduction in ("sum_over_batch_size", "mean") else 1.0
        mask_weight = np.where(mask, scale, 0.0).astype(loss.dtype)
        if sample_weight is not None:
            mask_weight = mask_weight * _weights(op, sample_weight, loss)
        sample_weight = mask_weight
    if sample_weight is None:
        if reduction == "none":
            return loss
        return ops.sum(loss) if reduction == "sum" else ops.mean(loss)
    w = _weights(op, sample_weight, loss)
    weighted = loss * Tensor(w)
    if reduction == "none":
        return weighted
    if reduction != "mean_with_sample_weight":
        return ops.sum(weighted) if reduction == "sum" else ops.mean(weighted)
    total = ops.sum(weighted)
    denom = float(np.broadcast_to(w, loss.shape).sum())
    return total / denom if denom > 0 else total * 0.0


def output_mask(op, loss, y_pred):
    """The mask ``y_pred`` carries (``Embedding(mask_zero=True)``, ``Masking`` upstream), shaped like the
    per-sample ``loss``, or None.  As Keras 3, a masked entry neither counts nor trains."""
    mask = get_keras_mask(y_pred)
    if mask is None or loss.ndim == 0:
        return None
    return fit_mask(op, mask, loss.shape, "losses")


def fit_mask(op, mask, shape, what):
    """A predictions' mask made to fit per-sample ``what`` of ``shape`` (a trailing axis of 1 dropped), or a
    ValueError naming ``op``; losses and metrics share this rule."""
    if mask.ndim == len(shape) + 1 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    try:
        np.broadcast_shapes(mask.shape, shape)
    except ValueError:
        raise ValueError(f"{op}: the predictions carry a mask of shape {mask.shape}, which does not fit the "
                         f"per-sample {what} of shape {shape}") from None
    return mask


def _and_masks(a, b):
    return a if b is None else (b if a is None else np.logical_and(a, b))


def standardize_reduction(op, reduction):
    """One of ``REDUCTIONS`` (``None`` means ``'none'``, as in Keras)."""
    if reduction is None:
        return "none"
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: unknown reduction {reduction!r}; valid choices: {', '.join(REDUCTIONS)}, None")
    return reduction


# -- per-sample loss functions ---------------------------------------------------------------------
def mean_squared_error(y_true, y_pred):
    y_pred = as_tensor(y_pred)
    return _mean_last(ops.square(y_pred - _float_target("mean_squared_error", y_true, y_pred)))


def mean_absolute_error(y_true, y_pred):
    y_pred = as_tensor(y_pred)
    return _mean_last(ops.abs(y_pred - _float_target("mean_absolute_error", y_true, y_pred)))


def huber(y_true, y_pred, delta=1.0):
    """``0.5 e^2`` for ``|e| <= delta``, else ``delta (|e| - 0.5 delta)``, with ``e = y_pred - y_true``."""
    if delta <= 0:
        raise ValueError(f"huber: delta must be positive, got {delta}")
    y_pred = as_tensor(y_pred)
    err = ops.abs(y_pred - _float_target("huber", y_true, y_pred))
    quad = ops.minimum(err, delta)
    return _mean_last(0.5 * ops.square(quad) + delta * (err - quad))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Elementwise binary cross-entropy averaged over the last axis.

    On logits ``z`` it is ``softplus(z) - y z``, exact and overflow-free.
    """
    y_pred = as_tensor(y_pred)
    y = _float_target("binary_crossentropy", y_true, y_pred)
    if label_smoothing:
        y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        return _mean_last(ops.softplus(y_pred) - y_pred * Tensor(y))
    p = _clip_probs(y_pred)
    return _mean_last(-(Tensor(y) * ops.log(p) + Tensor(1 - y) * ops.log(1 - p)))


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """``-sum_k t_k log p_k`` over the last axis; ``t`` one-hot or probabilities."""
    y_pred = as_tensor(y_pred)
    op = "categorical_crossentropy"
    if y_pred.ndim < 1:
        raise ValueError(f"{op}: expected predictions (batch, ..., classes), got shape {y_pred.shape}")
    y = _array(y_true)
    if y.shape != y_pred.shape:
        raise ValueError(f"{op}: one-hot targets have shape {y.shape} but the output has shape {y_pred.shape}; "
                         f"their widths must match ({y.shape[-1:]} vs {y_pred.shape[-1:]}) — for integer labels "
                         f"use SparseCategoricalCrossentropy")
    y = y.astype(y_pred.dtype, copy=False)
    k = y_pred.shape[-1]
    if not from_logits and _softmax_input(y_pred) is not None:
        y_pred, from_logits = _softmax_input(y_pred), True
    if from_logits:
        flat = F.softmax_cross_entropy(ops.reshape(y_pred, (-1, k)), y.reshape(-1, k),
                                       label_smoothing=label_smoothing, reduction="none")
        return ops.reshape(flat, y_pred.shape[:-1])
    if label_smoothing:
        y = y * (1 - label_smoothing) + label_smoothing / k
    p = _clip_probs(y_pred / ops.sum(y_pred, axis=-1, keepdims=True))
    return -ops.sum(Tensor(y) * ops.log(p), axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None):
    """Cross-entropy against integer labels in ``[0, K)``; 0 where the label is ``ignore_class``."""
    y_pred = as_tensor(y_pred)
    op = "sparse_categorical_crossentropy"
    if y_pred.ndim < 1:
        raise ValueError(f"{op}: expected predictions (batch, ..., classes), got shape {y_pred.shape}")
    labels = _sparse_labels(op, y_true, y_pred, ignore_class).reshape(-1)
    k = y_pred.shape[-1]
    if not from_logits and _softmax_input(y_pred) is not None:
        y_pred, from_logits = _softmax_input(y_pred), True
    flat = ops.reshape(y_pred, (-1, k))
    if from_logits:
        loss = F.softmax_cross_entropy(flat, labels, reduction="none")
    else:
        p = _clip_probs(flat / ops.sum(flat, axis=-1, keepdims=True))
        loss = -ops.log(p[np.arange(len(labels)), labels])
    loss = ops.reshape(loss, y_pred.shape[:-1])
    if ignore_class is not None:
        loss = loss * Tensor(_valid_labels(y_true, y_pred, ignore_class).astype(loss.dtype))
    return loss


def _valid_labels(y_true, y_pred, ignore_class):
    """Where the label is not ``ignore_class`` (shape ``y_pred.shape[:-1]``)."""
    y = _array(y_true)
    return (y != ignore_class).reshape(y_pred.shape[:-1])


def kl_divergence(y_true, y_pred):
    """``sum_k t_k log(t_k / p_k)`` over the last axis, both clipped to ``[EPSILON, 1]``."""
    y_pred = as_tensor(y_pred)
    y = np.clip(_float_target("kl_divergence", y_true, y_pred), EPSILON, 1)
    p = ops.clip(y_pred, EPSILON, 1)
    return ops.sum(Tensor(y * np.log(y)) - Tensor(y) * ops.log(p), axis=-1)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0):
    """Keras 3's focal BCE: ``(1 - p_t)^gamma * bce`` averaged over the last axis, with
    ``p_t = y p + (1 - y)(1 - p)``; class balancing multiplies by ``y alpha + (1 - y)(1 - alpha)``."""
    y_pred = as_tensor(y_pred)
    y = _float_target("binary_focal_crossentropy", y_true, y_pred)
    if label_smoothing:
        y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    p = ops.sigmoid(y_pred) if from_logits else y_pred
    clipped = _clip_probs(p)
    bce = -(Tensor(y) * ops.log(clipped) + Tensor(1 - y) * ops.log(1 - clipped))
    p_t = p * Tensor(y) + (1 - p) * Tensor(1 - y)
    focal = (1 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal = focal * Tensor(y * alpha + (1 - y) * (1 - alpha))
    return _mean_last(focal)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0):
    """Keras 3's focal CCE: ``sum_k alpha (1 - p_k)^gamma (-t_k log p_k)`` over the last axis, ``p`` the
    predictions renormalised to sum to 1 and clipped to ``[EPSILON, 1 - EPSILON]``."""
    y_pred = as_tensor(y_pred)
    op = "categorical_focal_crossentropy"
    y = _array(y_true)
    if y_pred.ndim < 1 or y.shape != y_pred.shape:
        raise ValueError(f"{op}: one-hot targets have shape {y.shape} but the output has shape {y_pred.shape}; "
                         f"they must match")
    y = y.astype(y_pred.dtype, copy=False)
    if label_smoothing:
        y = y * (1 - label_smoothing) + label_smoothing / y_pred.shape[-1]
    p = ops.softmax(y_pred, axis=-1) if from_logits else y_pred
    p = _clip_probs(p / ops.sum(p, axis=-1, keepdims=True))
    return ops.sum(alpha * (1 - p) ** gamma * (Tensor(-y) * ops.log(p)), axis=-1)


def _hinge_target(op, y_true, y_pred):
    """Targets in {-1, 1}; all-binary {0, 1} targets are mapped to them (as Keras)."""
    y = _float_target(op, y_true, y_pred)
    return 2 * y - 1 if np.all((y == 0) | (y == 1)) else y


def hinge(y_true, y_pred):
    """``mean(max(1 - y p, 0))`` over the last axis."""
    y_pred = as_tensor(y_pred)
    return _mean_last(ops.relu(1 - Tensor(_hinge_target("hinge", y_true, y_pred)) * y_pred))


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y p, 0)^2)`` over the last axis."""
    y_pred = as_tensor(y_pred)
    return _mean_last(ops.square(ops.relu(1 - Tensor(_hinge_target("squared_hinge", y_true, y_pred)) * y_pred)))


def categorical_hinge(y_true, y_pred):
    """``max(neg - pos + 1, 0)`` with ``pos = sum(t p)`` and ``neg = max((1 - t) p)`` over the last axis."""
    y_pred = as_tensor(y_pred)
    y = _float_target("categorical_hinge", y_true, y_pred)
    pos = ops.sum(Tensor(y) * y_pred, axis=-1)
    neg = ops.max(Tensor(1 - y) * y_pred, axis=-1)
    return ops.relu(neg - pos + 1)


def _l2_normalize(x, axis):
    """``x / max(||x||, EPSILON)`` (Keras's ``x * min(rsqrt(sum x^2), 1 / EPSILON)``, finite at 0)."""
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), EPSILON ** 2))


def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(l2_normalize(t) * l2_normalize(p))`` along ``axis``: -1 for the same direction (a loss to lower)."""
    y_pred = as_tensor(y_pred)
    y = Tensor(_float_target("cosine_similarity", y_true, y_pred))
    return -ops.sum(_l2_normalize(y, axis) * _l2_normalize(y_pred, axis), axis=axis)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(e)))`` over the last axis, as ``e + softplus(-2 e) - log 2`` (no overflow)."""
    y_pred = as_tensor(y_pred)
    err = y_pred - _float_target("log_cosh", y_true, y_pred)
    return _mean_last(err + ops.softplus(-2 * err) - np.log(2.0))


def poisson(y_true, y_pred):
    """``mean(p - t log(p + EPSILON))`` over the last axis."""
    y_pred = as_tensor(y_pred)
    y = _float_target("poisson", y_true, y_pred)
    return _mean_last(y_pred - Tensor(y) * ops.log(y_pred + EPSILON))


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 mean(|t - p| / max(|t|, EPSILON))`` over the last axis."""
    y_pred = as_tensor(y_pred)
    y = _float_target("mean_absolute_percentage_error", y_true, y_pred)
    return 100 * _mean_last(ops.abs(y_pred - y) * Tensor(1 / np.maximum(np.abs(y), EPSILON)))


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(max(p, EPSILON) + 1) - log(max(t, EPSILON) + 1))^2)`` over the last axis."""
    y_pred = as_tensor(y_pred)
    y = _float_target("mean_squared_logarithmic_error", y_true, y_pred)
    first = ops.log(ops.maximum(y_pred, EPSILON) + 1)
    return _mean_last(ops.square(first - np.log(np.maximum(y, EPSILON) + 1)))


def _region_axis(op, axis, ndim):
    """``axis`` for Dice/Tversky: ``None`` (everything: one value for the batch) or axes other than 0."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    norm = tuple(a % ndim if -ndim <= a < ndim else None for a in axes)
    if None in norm or 0 in norm:
        raise ValueError(f"{op}: axis must be None or axes of the per-sample dimensions 1..{ndim - 1} "
                         f"(or negative), got {axis} for a prediction of rank {ndim}")
    return norm


def dice(y_true, y_pred, axis=None):
    """``1 - 2 sum(t p) / (sum(t) + sum(p) + EPSILON)`` over ``axis`` (``None``: the whole batch)."""
    y_pred = as_tensor(y_pred)
    axis = _region_axis("dice", axis, y_pred.ndim)
    y = _float_target("dice", y_true, y_pred)
    inter = ops.sum(Tensor(y) * y_pred, axis=axis)
    return 1 - 2 * inter / (ops.sum(y_pred, axis=axis) + (y.sum(axis=axis) + EPSILON))


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """``1 - I / (I + alpha sum(t (1 - p)) + beta sum((1 - t) p) + EPSILON)``, ``I = sum(t p)``, over ``axis``
    (Keras 3's weighting: ``alpha`` scales the missed targets, ``beta`` the false alarms)."""
    y_pred = as_tensor(y_pred)
    axis = _region_axis("tversky", axis, y_pred.ndim)
    y = Tensor(_float_target("tversky", y_true, y_pred))
    inter = ops.sum(y * y_pred, axis=axis)
    missed = ops.sum((1 - y_pred) * y, axis=axis)
    false_alarms = ops.sum(y_pred * (1 - y), axis=axis)
    return 1 - inter / (inter + alpha * missed + beta * false_alarms + EPSILON)


# -- classes ----------------------------------------------------------------------------------------
class Loss(Configurable):
    """Base class: ``call(y_true, y_pred)`` gives per-sample losses; ``__call__`` reduces them."""

    def __init__(self, reduction="sum_over_batch_size", name=None):
        self.reduction = standardize_reduction(type(self).__name__, reduction)
        self.name = name or snake_case(type(self).__name__)

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        loss = self.call(y_true, y_pred)
        return reduce_loss(self.name, loss, self.reduction, sample_weight, output_mask(self.name, loss, y_pred))

    def check_targets(self, y_true, output_shape):
        """Check a whole target array against the model's output shape before training."""
        y = _numeric_targets(self.name, y_true)
        out = tuple(output_shape[1:])
        if y.shape[1:] != out and not (y.shape[1:] + (1,) == out or y.shape[1:] == out + (1,)):
            raise ValueError(f"{self.name}: targets have per-sample shape {y.shape[1:]} but the model's output "
                             f"has per-sample shape {out}")

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name}


class LossFunctionWrapper(Loss):
    """A loss from a function ``(y_true, y_pred) -> Tensor``.

    ``y_true`` reaches the function as a Tensor of ``y_pred``'s float dtype.
    A per-sample result is reduced as configured; a scalar is used as it is.
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, **kwargs):
        super().__init__(reduction, name or getattr(fn, "__name__", "custom_loss"))
        self.fn, self.kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        y_pred = as_tensor(y_pred)
        if not isinstance(y_true, Tensor):
            y = np.asarray(y_true)
            y_true = Tensor(y.astype(y_pred.dtype) if y.dtype.kind in "biuf" else y)
        out = self.fn(y_true, y_pred, **self.kwargs)
        if not isinstance(out, Tensor):
            raise TypeError(f"loss {self.name!r} returned {type(out).__name__}, not a Tensor: write custom losses "
                            f"with nnkit.ops so that gradients flow")
        return out

    def __call__(self, y_true, y_pred, sample_weight=None):
        out = self.call(y_true, y_pred)
        if out.ndim == 0:
            if sample_weight is not None:
                raise ValueError(f"loss {self.name!r} returned a scalar, so sample_weight cannot be applied; "
                                 f"return per-sample losses instead")
            return out
        return reduce_loss(self.name, out, self.reduction, sample_weight, output_mask(self.name, out, y_pred))

    def check_targets(self, y_true, output_shape):
        pass  # a custom loss defines its own target format

    def get_config(self):
        return {**super().get_config(), **self.kwargs}


class MeanSquaredError(Loss):
    def call(self, y_true, y_pred):
        return mean_squared_error(y_true, y_pred)


class MeanAbsoluteError(Loss):
    def call(self, y_true, y_pred):
        return mean_absolute_error(y_true, y_pred)


class Huber(Loss):
    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber"):
        super().__init__(reduction, name)
        if delta <= 0:
            raise ValueError(f"Huber: delta must be positive, got {delta}")
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        return huber(y_true, y_pred, self.delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class _Crossentropy(Loss):
    def __init__(self, from_logits=False, label_smoothing=0.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        if not 0 <= label_smoothing <= 1:
            raise ValueError(f"{type(self).__name__}: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(_Crossentropy):
    def call(self, y_true, y_pred):
        return binary_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)

    def check_targets(self, y_true, output_shape):
        Loss.check_targets(self, y_true, output_shape)  # also BinaryFocalCrossentropy's
        y = _array(y_true)
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"{self.name}: targets must be in [0, 1], got values from {y.min()} to {y.max()}")


class CategoricalCrossentropy(_Crossentropy):
    def call(self, y_true, y_pred):
        return categorical_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)

    def check_targets(self, y_true, output_shape):
        y = _numeric_targets(self.name, y_true)
        if y.shape[1:] != tuple(output_shape[1:]):
            hint = (" — these look like integer labels: use SparseCategoricalCrossentropy or one-hot encode them"
                    if y.ndim == len(output_shape) - 1 or y.shape[1:] == (1,) else "")
            raise ValueError(f"{self.name}: one-hot targets have per-sample shape {y.shape[1:]} but the model's "
                             f"output has per-sample shape {tuple(output_shape[1:])}{hint}")


class SparseCategoricalCrossentropy(Loss):
    """``ignore_class``: a label value (say -1 or 255) whose entries neither count nor train, as Keras 3:
    the mean reductions divide by the number of the other entries."""

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        if ignore_class is not None and (isinstance(ignore_class, bool) or not float(ignore_class).is_integer()):
            raise ValueError(f"{type(self).__name__}: ignore_class must be an integer label or None, "
                             f"got {ignore_class!r}")
        self.from_logits = bool(from_logits)
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits, self.ignore_class)

    def __call__(self, y_true, y_pred, sample_weight=None):
        loss = self.call(y_true, y_pred)
        mask = None if self.ignore_class is None else _valid_labels(y_true, as_tensor(y_pred), self.ignore_class)
        return reduce_loss(self.name, loss, self.reduction, sample_weight,
                           _and_masks(mask, output_mask(self.name, loss, y_pred)))

    def check_targets(self, y_true, output_shape):
        y = _numeric_targets(self.name, y_true)
        want = tuple(output_shape[1:-1])
        if y.shape[1:] not in (want, want + (1,)):
            raise ValueError(f"{self.name}: expected integer labels of per-sample shape {want} for an output of "
                             f"per-sample shape {tuple(output_shape[1:])}, got {y.shape[1:]}")
        if y.dtype.kind == "f" and np.any(y != np.round(y)):
            raise ValueError(f"{self.name}: labels must be integers, got non-integer values")
        if self.ignore_class is not None:
            y = y[y != self.ignore_class]
        _check_label_range(self.name, y, output_shape[-1])

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": self.ignore_class}


class KLDivergence(Loss):
    def call(self, y_true, y_pred):
        return kl_divergence(y_true, y_pred)


class BinaryFocalCrossentropy(_Crossentropy):
    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(from_logits, label_smoothing, reduction, name)
        _check_focal(type(self).__name__, alpha, gamma)
        self.apply_class_balancing, self.alpha, self.gamma = bool(apply_class_balancing), float(alpha), float(gamma)

    def call(self, y_true, y_pred):
        return binary_focal_crossentropy(y_true, y_pred, self.apply_class_balancing, self.alpha, self.gamma,
                                         self.from_logits, self.label_smoothing)

    check_targets = BinaryCrossentropy.check_targets

    def get_config(self):
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                "gamma": self.gamma}


class CategoricalFocalCrossentropy(_Crossentropy):
    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(from_logits, label_smoothing, reduction, name)
        _check_focal(type(self).__name__, alpha, gamma)
        self.alpha, self.gamma = float(alpha), float(gamma)

    def call(self, y_true, y_pred):
        return categorical_focal_crossentropy(y_true, y_pred, self.alpha, self.gamma, self.from_logits,
                                              self.label_smoothing)

    check_targets = CategoricalCrossentropy.check_targets

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma}


def _check_focal(op, alpha, gamma):
    if not 0 <= alpha <= 1:
        raise ValueError(f"{op}: alpha must be in [0, 1], got {alpha}")
    if gamma < 0:
        raise ValueError(f"{op}: gamma must be non-negative, got {gamma}")


class Hinge(Loss):
    def call(self, y_true, y_pred):
        return hinge(y_true, y_pred)


class SquaredHinge(Loss):
    def call(self, y_true, y_pred):
        return squared_hinge(y_true, y_pred)


class CategoricalHinge(Loss):
    def call(self, y_true, y_pred):
        return categorical_hinge(y_true, y_pred)


class CosineSimilarity(Loss):
    def __init__(self, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.axis = axis

    def call(self, y_true, y_pred):
        return cosine_similarity(y_true, y_pred, self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class LogCosh(Loss):
    def call(self, y_true, y_pred):
        return log_cosh(y_true, y_pred)


class Poisson(Loss):
    def call(self, y_true, y_pred):
        return poisson(y_true, y_pred)


class MeanAbsolutePercentageError(Loss):
    def call(self, y_true, y_pred):
        return mean_absolute_percentage_error(y_true, y_pred)


class MeanSquaredLogarithmicError(Loss):
    def call(self, y_true, y_pred):
        return mean_squared_logarithmic_error(y_true, y_pred)


class _RegionLoss(Loss):
    """Dice and Tversky: ``axis=None`` (Keras's default) gives one value for the whole batch."""

    def __init__(self, reduction="sum_over_batch_size", name=None, axis=None):
        super().__init__(reduction, name)
        self.axis = axis if axis is None or isinstance(axis, int) else tuple(axis)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.axis is None and sample_weight is not None:
            raise ValueError(f"{self.name}: with axis=None the loss is one value for the whole batch, so "
                             f"sample_weight cannot be applied; pass the per-sample axes (e.g. axis=(1, 2, 3)) "
                             f"to get one loss per sample")
        return super().__call__(y_true, y_pred, sample_weight)

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis}


class Dice(_RegionLoss):
    def call(self, y_true, y_pred):
        return dice(y_true, y_pred, self.axis)


class Tversky(_RegionLoss):
    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name=None, axis=None):
        super().__init__(reduction, name, axis)
        self.alpha, self.beta = float(alpha), float(beta)

    def call(self, y_true, y_pred):
        return tversky(y_true, y_pred, self.alpha, self.beta, self.axis)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


def snake_case(name):
    """``'KLDivergence'`` -> ``'kl_divergence'`` (default names of losses and metrics)."""
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return out.replace("k_l_", "kl_")


_ALIASES = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy, "cce": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence, "kld": KLDivergence,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "cosine_similarity": CosineSimilarity, "log_cosh": LogCosh, "poisson": Poisson,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "dice": Dice, "tversky": Tversky,
}


def names():
    """The string identifiers ``get`` accepts."""
    return sorted(_ALIASES)


def get(identifier):
    """A ``Loss`` from a name, a class, an instance or a function ``(y_true, y_pred) -> Tensor``."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown loss {identifier!r}; valid names: {', '.join(names())}, "
                             f"a Loss instance or a function (y_true, y_pred) -> Tensor")
        return cls(name=identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"cannot interpret {identifier!r} as a loss; valid names: {', '.join(names())}")
from nnkit.margin_losses import ArcFace, CombinedMargin, CosFace, NormalizedSoftmax, SphereFace  # noqa: E402,F401

_ALIASES.update({"arcface": ArcFace, "cosface": CosFace, "sphereface": SphereFace, "combined_margin": CombinedMargin,
                 "normalized_softmax": NormalizedSoftmax})
