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
from nnkit.tensor import Tensor, as_tensor

__all__ = [
    "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError", "Huber",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence",
    "mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence",
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


def _sparse_labels(op, y_true, y_pred):
    """Integer labels of shape ``y_pred.shape[:-1]``, each in ``[0, K)``."""
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


def reduce_loss(op, loss, reduction, sample_weight=None):
    """Apply ``sample_weight`` and ``reduction`` to per-sample losses (see the module doc)."""
    reduction = standardize_reduction(op, reduction)
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


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Cross-entropy against integer labels in ``[0, K)``."""
    y_pred = as_tensor(y_pred)
    if y_pred.ndim < 1:
        raise ValueError(f"sparse_categorical_crossentropy: expected predictions (batch, ..., classes), "
                         f"got shape {y_pred.shape}")
    labels = _sparse_labels("sparse_categorical_crossentropy", y_true, y_pred).reshape(-1)
    k = y_pred.shape[-1]
    if not from_logits and _softmax_input(y_pred) is not None:
        y_pred, from_logits = _softmax_input(y_pred), True
    flat = ops.reshape(y_pred, (-1, k))
    if from_logits:
        loss = F.softmax_cross_entropy(flat, labels, reduction="none")
    else:
        p = _clip_probs(flat / ops.sum(flat, axis=-1, keepdims=True))
        loss = -ops.log(p[np.arange(len(labels)), labels])
    return ops.reshape(loss, y_pred.shape[:-1])


def kl_divergence(y_true, y_pred):
    """``sum_k t_k log(t_k / p_k)`` over the last axis, both clipped to ``[EPSILON, 1]``."""
    y_pred = as_tensor(y_pred)
    y = np.clip(_float_target("kl_divergence", y_true, y_pred), EPSILON, 1)
    p = ops.clip(y_pred, EPSILON, 1)
    return ops.sum(Tensor(y * np.log(y)) - Tensor(y) * ops.log(p), axis=-1)


# -- classes ----------------------------------------------------------------------------------------
class Loss(Configurable):
    """Base class: ``call(y_true, y_pred)`` gives per-sample losses; ``__call__`` reduces them."""

    def __init__(self, reduction="sum_over_batch_size", name=None):
        self.reduction = standardize_reduction(type(self).__name__, reduction)
        self.name = name or snake_case(type(self).__name__)

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        return reduce_loss(self.name, self.call(y_true, y_pred), self.reduction, sample_weight)

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
        return reduce_loss(self.name, out, self.reduction, sample_weight)

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
        super().check_targets(y_true, output_shape)
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
    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits)

    def check_targets(self, y_true, output_shape):
        y = _numeric_targets(self.name, y_true)
        want = tuple(output_shape[1:-1])
        if y.shape[1:] not in (want, want + (1,)):
            raise ValueError(f"{self.name}: expected integer labels of per-sample shape {want} for an output of "
                             f"per-sample shape {tuple(output_shape[1:])}, got {y.shape[1:]}")
        if y.dtype.kind == "f" and np.any(y != np.round(y)):
            raise ValueError(f"{self.name}: labels must be integers, got non-integer values")
        _check_label_range(self.name, y, output_shape[-1])

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


class KLDivergence(Loss):
    def call(self, y_true, y_pred):
        return kl_divergence(y_true, y_pred)


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
