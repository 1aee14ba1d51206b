"""Fused softmax + cross-entropy: the pure-NumPy reference.

``target`` is either integer class labels (N,) in [0, K) or float
probabilities (N, K) of the logits' dtype.  Label smoothing mixes the target
with the uniform distribution: ``t' = (1 - ls) * t + ls / K``.  The ``check_*``
functions are the argument checks shared with the Cython backend.
"""
import numpy as np

from ..validate import float_array, index_range, int_array, same_dtype, scalar_in, shape_is

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]

OP = "softmax_cross_entropy"


# ----------------------------------------------------------------------------- argument checks

def check_target(target, n, k, dtype):
    """Integer labels (returned as C-contiguous int64) or dense float targets of ``dtype``."""
    if isinstance(target, np.ndarray) and target.dtype.kind in "iu":
        target = int_array(OP, "target", target, (n,))
        index_range(OP, "target", target, k)
        return target
    if isinstance(target, np.ndarray) and target.dtype.kind != "f":
        raise TypeError(f"{OP}: expected target to be integer labels (N,) or float probabilities "
                        f"(N, K), got dtype {target.dtype}")
    target = float_array(OP, "target", target, ndim=2)
    shape_is(OP, "target", target, (n, k))
    if target.dtype != dtype:
        raise TypeError(f"{OP}: expected float target of the logits' dtype {dtype}, got {target.dtype}")
    return target


def check_smoothing(label_smoothing):
    return scalar_in(OP, "label_smoothing", label_smoothing, 0.0, 1.0)


def check_forward(logits, target, label_smoothing):
    logits = float_array(OP, "logits", logits, ndim=2)
    n, k = logits.shape
    if k < 1:
        raise ValueError(f"{OP}: expected logits (N, K) with at least one class, got shape {logits.shape}")
    return logits, check_target(target, n, k, logits.dtype), check_smoothing(label_smoothing)


def check_backward(dloss, probs, target, label_smoothing):
    probs = float_array(OP, "probs", probs, ndim=2)
    dloss = float_array(OP, "dloss", dloss, ndim=1)
    n, k = probs.shape
    shape_is(OP, "dloss", dloss, (n,))
    same_dtype(OP, dloss=dloss, probs=probs)
    return dloss, probs, check_target(target, n, k, probs.dtype), check_smoothing(label_smoothing)


# ----------------------------------------------------------------------------- ops

def _dense_target(target, shape, dtype, label_smoothing):
    """``t' = (1 - ls) * t + ls / K`` as a dense (N, K) array; integer labels become one-hot."""
    if target.ndim == 1:
        onehot = np.zeros(shape, dtype=dtype)
        onehot[np.arange(shape[0]), target] = 1
        target = onehot
    ls = label_smoothing
    return (1 - ls) * target + ls / shape[1] if ls else target


def softmax_cross_entropy_forward(logits, target, label_smoothing=0.0):
    """Softmax over the last axis and per-sample cross-entropy against ``target``.

    ``target`` is integer labels (N,) in [0, K) or float probabilities (N, K)
    of the logits' dtype; label smoothing uses ``t' = (1 - ls) * t + ls / K``.
    Returns ``(loss, probs)``: ``loss[n] = -sum_k t'[n, k] * log_softmax(logits)[n, k]``
    (shape (N,)) and ``probs = softmax(logits)`` (N, K), both via the stable
    log-sum-exp ``lse = max + log(sum(exp(logits - max)))``.
    """
    logits, target, ls = check_forward(logits, target, label_smoothing)
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    return _cross_entropy(shifted - np.log(total), target, ls), e / total


def _cross_entropy(log_probs, target, ls):
    """``-sum(t' * log_probs)`` per row, with 0 * log(0) = 0: a zero target
    weight ignores a masked (-inf) logit."""
    if target.ndim == 1:  # sum(t' * lp) = (1 - ls) * lp[label] + ls * mean(lp)
        loss = -(1 - ls) * np.take_along_axis(log_probs, target[:, None], axis=1)[:, 0]
        return loss - ls * log_probs.mean(axis=1) if ls else loss
    weights = _dense_target(target, log_probs.shape, log_probs.dtype, ls)
    with np.errstate(invalid="ignore"):  # 0 * -inf, replaced by 0 below
        terms = weights * log_probs
    return -np.where(weights == 0, 0, terms).sum(axis=1)


def softmax_cross_entropy_backward(dloss, probs, target, label_smoothing=0.0):
    """Gradient with respect to the logits: ``dloss[:, None] * (probs - t')``."""
    dloss, probs, target, ls = check_backward(dloss, probs, target, label_smoothing)
    return dloss[:, None] * (probs - _dense_target(target, probs.shape, probs.dtype, ls))
